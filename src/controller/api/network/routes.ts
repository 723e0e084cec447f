import type { FastifyInstance } from 'fastify';
import type { ControllerContext } from '../../context.js';
import { useErrorFormat } from '../errors.js';

export async function networkApi(app: FastifyInstance, ctx: ControllerContext): Promise<void> {
  useErrorFormat(app, 'network');
  void ctx;
}

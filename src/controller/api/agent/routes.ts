import type { FastifyInstance } from 'fastify';
import type { ControllerContext } from '../../context.js';
import { useErrorFormat } from '../errors.js';

export async function agentApi(app: FastifyInstance, ctx: ControllerContext): Promise<void> {
  useErrorFormat(app, 'compute');
  void ctx;
}

/**
 * A test-only command line holding just `discover`, for spawning the command as
 * a real process before (or without) the main CLI. With no arguments it does
 * nothing, because the test runner also loads every file under dist/test.
 */
import { Command } from 'commander';
import { registerDiscoverCommand } from '../../../src/cli/discover.js';

if (process.argv.length > 2) {
  const program = new Command('vdpa-compute-test');
  registerDiscoverCommand(program);
  await program.parseAsync(process.argv);
}

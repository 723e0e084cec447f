import { open } from 'node:fs/promises';
import { consoleLogPathOf } from '../../../domain/guest/domainXml.js';
import { MAX_CONSOLE_BYTES } from '../../../domain/guest/consoleLog.js';
import { ConsoleNotAvailable } from '../driver.js';

/**
 * The guest's serial console log, read from the file its domain XML names
 * (`<serial type="pty"><log file=…/>`, kept by virtlogd): at most its last
 * MAX_CONSOLE_BYTES, as Nova's libvirt driver reads it. A domain without a
 * logged serial console, or whose log was not written yet, has no console.
 */
export async function readConsoleLog(domainXml: string): Promise<string> {
  const path = consoleLogPathOf(domainXml);
  if (path === null) throw new ConsoleNotAvailable();
  let file;
  try {
    file = await open(path, 'r');
  } catch {
    throw new ConsoleNotAvailable();
  }
  try {
    const { size } = await file.stat();
    const length = Math.min(size, MAX_CONSOLE_BYTES);
    const buffer = Buffer.alloc(length);
    await file.read(buffer, 0, length, size - length);
    return buffer.toString('utf8');
  } finally {
    await file.close();
  }
}

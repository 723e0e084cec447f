/**
 * Debian's chromium, headless, driven through playwright-core (no browser
 * download: the system binary), and the dashboard's sign-in, shared by the
 * browser tests, `npm run screenshots` and `npm run bench:dashboard`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { parse } from 'yaml';

/** The system browser the tests drive (scripts/ensure-test-deps.sh installs it with apt). */
export const CHROMIUM = process.env.VDPA_CHROMIUM ?? '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true });
}

export interface Credentials { username: string; password: string; project: string }

/** A user's name, password and project from the clouds.yaml `serve` writes into its data directory. */
export async function credentialsOf(dataDir: string, user: 'admin' | 'demo'): Promise<Credentials> {
  const clouds = parse(await readFile(join(dataDir, 'clouds.yaml'), 'utf8')) as { clouds: Record<string, { auth: Record<string, string> }> };
  const auth = clouds.clouds[user === 'admin' ? 'vdpa-compute' : 'vdpa-compute-demo']!.auth;
  return { username: auth.username!, password: auth.password!, project: auth.project_name! };
}

/** Opens the dashboard at baseUrl and signs in through its form, as a person would. */
export async function signIn(page: Page, baseUrl: string, who: Credentials, hash = ''): Promise<void> {
  await page.goto(`${baseUrl}/dashboard${hash}`);
  await page.getByLabel('User', { exact: true }).fill(who.username);
  await page.getByLabel('Password', { exact: true }).fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

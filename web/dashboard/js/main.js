// The page's shell: sign-in, the navigation, the router (#/fleet,
// #/host/NAME, #/servers, #/server/ID) and the poll that keeps the open view
// current (every second, so a change shows within two).

import { ApiError, currentSession, signIn, signOut, SignedOut } from './api.js';
import { fleetView } from './fleetView.js';
import { hostView } from './hostView.js';
import { serverView } from './serverView.js';
import { serversView } from './serversView.js';

const POLL_MS = 1000;

const $ = (id) => document.getElementById(id);
let mounted = null; // { view, timer, stopped }

function routeOf(hash, session) {
  const [, name = '', arg = ''] = /^#\/([^/]*)\/?(.*)$/.exec(hash) ?? [];
  const param = decodeURIComponent(arg);
  if (name === 'host' && param && session.isAdmin) return hostView(param);
  if (name === 'server' && param) return serverView(param, session);
  if (name === 'servers') return serversView(session);
  if (name === 'fleet' && session.isAdmin) return fleetView();
  return session.isAdmin ? fleetView() : serversView(session);
}

function showSignIn(message = '') {
  stopView();
  $('signin').hidden = false;
  $('app').hidden = true;
  $('session').hidden = true;
  $('signin-error').textContent = message;
  $('signin-user').focus();
}

function showApp(session) {
  $('signin').hidden = true;
  $('app').hidden = false;
  $('session').hidden = false;
  $('who').textContent = `${session.user} (project ${session.project}${session.isAdmin ? ', admin' : ''})`;
  $('nav-fleet').hidden = !session.isAdmin;
  mountView(session);
}

function stopView() {
  if (!mounted) return;
  mounted.stopped = true;
  clearTimeout(mounted.timer);
  mounted.view.stop?.();
  mounted = null;
}

/** Renders the route's view and polls it until the route changes. */
function mountView(session) {
  stopView();
  const view = routeOf(location.hash, session);
  const root = $('view');
  root.replaceChildren();
  view.mount(root);
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href') === `#/${view.section}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${view.title} · vdpa-compute`;
  // Focus the view's heading so keyboard and screen-reader users land on what they opened.
  root.querySelector('h1')?.focus();
  const state = { view, timer: 0, stopped: false };
  mounted = state;
  const tick = async () => {
    try {
      await view.refresh();
      $('updated').textContent = `Updated ${new Date().toLocaleTimeString()}`;
      $('error').textContent = '';
    } catch (e) {
      if (e instanceof SignedOut) return showSignIn('Your session ended; sign in again.');
      $('error').textContent = e instanceof ApiError ? `${e.message} (HTTP ${e.status})` : `Cannot reach the controller: ${e.message}`;
    }
    if (!state.stopped) state.timer = setTimeout(tick, POLL_MS);
  };
  void tick();
}

$('signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const button = $('signin-submit');
  button.disabled = true;
  $('signin-error').textContent = '';
  try {
    const session = await signIn($('signin-user').value.trim(), $('signin-password').value, $('signin-project').value.trim());
    $('signin-password').value = '';
    showApp(session);
  } catch (e) {
    $('signin-error').textContent = e.message;
  } finally {
    button.disabled = false;
  }
});

$('signout').addEventListener('click', () => {
  signOut();
  showSignIn('Signed out.');
});

window.addEventListener('hashchange', () => {
  const session = currentSession();
  if (session) mountView(session);
  else showSignIn();
});

const session = currentSession();
if (session) showApp(session);
else showSignIn();

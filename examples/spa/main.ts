// The example SPA: plain TypeScript and the DOM, bundled by examples/spa-server.ts.
//
// On load it finishes a login when the page is the IdP's redirect (code+state or error+state in
// the query), else asks for the session; then it shows the state and lets the user log in, call
// the API, refresh and log out. Every call appears in the log panel. It never starts a login on
// its own: a 400 is shown as an error, and a 401 from refresh just means "logged out".

import {
  SessionEndedError,
  TokenHandlerClient,
  TokenHandlerError,
  callbackParams,
  withoutCallbackParams,
  type CallRecord,
  type Claims,
  type SessionBody,
} from './token-handler-client.js';

// Replaced at build time by examples/spa-server.ts (esbuild `define`) when TH_AGENT_PATH is set.
declare const TH_AGENT_PATH: string;
const agentPath = typeof TH_AGENT_PATH === 'string' ? TH_AGENT_PATH : '/oauth-agent';
const API_PATH = '/api/whoami';
const MAX_LOG_ENTRIES = 50;

const element = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from the page`);
  return found as T;
};

const ui = {
  status: element('status'),
  expires: element('expires'),
  error: element('error'),
  claims: element('claims'),
  apiResult: element('api-result'),
  log: element<HTMLOListElement>('log'),
  login: element<HTMLButtonElement>('login'),
  callApi: element<HTMLButtonElement>('call-api'),
  refresh: element<HTMLButtonElement>('refresh'),
  logout: element<HTMLButtonElement>('logout'),
};

type State =
  | { kind: 'loading' }
  | { kind: 'logged-in'; claims: Claims }
  | { kind: 'logged-out'; reason?: string };

let state: State = { kind: 'loading' };
let busy = false;

const client = new TokenHandlerClient({ agentPath, onCall: addLogEntry });

// ---------------------------------------------------------------------------------------------
// Rendering

function render(): void {
  if (state.kind === 'loading') ui.status.textContent = 'Checking the session…';
  else if (state.kind === 'logged-in') ui.status.textContent = `Logged in as ${displayName(state.claims)}`;
  else ui.status.textContent = state.reason ?? 'Not logged in';

  ui.claims.textContent = state.kind === 'logged-in' ? JSON.stringify(state.claims, null, 2) : '–';

  const loggedIn = state.kind === 'logged-in';
  ui.login.disabled = busy || state.kind !== 'logged-out';
  ui.callApi.disabled = busy || !loggedIn;
  ui.refresh.disabled = busy || !loggedIn;
  ui.logout.disabled = busy || !loggedIn;
  document.body.dataset['state'] = state.kind;
}

function displayName(claims: Claims): string {
  const sub = typeof claims['sub'] === 'string' ? claims['sub'] : 'unknown user';
  const name = typeof claims['name'] === 'string' ? claims['name'] : undefined;
  return name && name !== sub ? `${name} (${sub})` : sub;
}

function showSession(session: SessionBody): void {
  if (session.is_logged_in) {
    state = { kind: 'logged-in', claims: session.id_token_claims };
    showExpiry(session.access_token_expires_in);
  } else {
    state = { kind: 'logged-out' };
    showExpiry(undefined);
  }
}

function showLoggedOut(reason: string): void {
  state = { kind: 'logged-out', reason };
  showExpiry(undefined);
  ui.apiResult.textContent = '–';
}

function showExpiry(seconds: number | undefined): void {
  ui.expires.textContent = seconds === undefined ? '' : `Access token expires in ${seconds} s`;
}

function showError(message: string | undefined): void {
  ui.error.textContent = message ?? '';
  ui.error.hidden = message === undefined;
}

function addLogEntry(call: CallRecord): void {
  const item = document.createElement('li');
  const line = document.createElement('div');
  line.className = 'call';
  const status = document.createElement('span');
  status.className = call.status >= 200 && call.status < 300 ? 'status-ok' : 'status-error';
  status.textContent = call.status === 0 ? 'network error' : String(call.status);
  line.append(`${call.method} ${call.path} → `, status);
  item.append(line);
  if (call.body !== undefined) {
    const body = document.createElement('pre');
    body.textContent = JSON.stringify(call.body, null, 2);
    item.append(body);
  }
  ui.log.prepend(item);
  while (ui.log.children.length > MAX_LOG_ENTRIES) ui.log.lastElementChild?.remove();
}

// ---------------------------------------------------------------------------------------------
// Actions

/** Runs one user action with the buttons disabled; errors end up on the page. */
async function run(action: () => Promise<void>): Promise<void> {
  busy = true;
  showError(undefined);
  render();
  try {
    await action();
  } catch (error) {
    handleError(error);
  } finally {
    // A failed first session check must not leave the page stuck on "Checking…".
    if (state.kind === 'loading') state = { kind: 'logged-out' };
    busy = false;
    render();
  }
}

function handleError(error: unknown): void {
  if (error instanceof SessionEndedError) {
    // The session is over. Show it; the user decides when to log in again (no redirect loop).
    showLoggedOut('Logged out: the session has ended');
  } else if (error instanceof TokenHandlerError) {
    // 400s are configuration or protocol errors: shown, never answered with a new login.
    showError(error.status === 0 ? `Network error: ${error.detail}` : `Error ${error.status} ${error.code}: ${error.detail}`);
  } else {
    showError(error instanceof Error ? error.message : String(error));
  }
}

async function onPageLoad(): Promise<void> {
  const url = new URL(location.href);
  const callback = callbackParams(url.searchParams);
  if (!callback) {
    showSession(await client.session());
    return;
  }
  let outcome: { session: SessionBody } | { error: unknown };
  try {
    outcome = { session: await client.endLogin(callback) };
  } catch (error) {
    outcome = { error };
  }
  // Never leave the code and state in the address bar, the history or a bookmark.
  history.replaceState(history.state, '', withoutCallbackParams(url));

  if ('session' in outcome) {
    showSession(outcome.session);
  } else if (outcome.error instanceof SessionEndedError) {
    // 401 login_required: the IdP wants the user to log in; leave that to the user.
    state = { kind: 'logged-out' };
    showError(`Not logged in: ${outcome.error.code}`);
  } else {
    handleError(outcome.error);
    // Whatever went wrong with this login, show the session as it is.
    showSession(await client.session());
  }
}

ui.login.addEventListener('click', () =>
  void run(async () => {
    const authorizationUrl = await client.startLogin();
    location.assign(authorizationUrl);
  }),
);

ui.callApi.addEventListener('click', () =>
  void run(async () => {
    const result = await client.callApi(API_PATH);
    ui.apiResult.textContent = `HTTP ${result.status}\n${JSON.stringify(result.body, null, 2) ?? ''}`;
  }),
);

ui.refresh.addEventListener('click', () =>
  void run(async () => {
    const result = await client.refresh();
    showExpiry(result.access_token_expires_in);
    ui.apiResult.textContent = JSON.stringify(result, null, 2);
  }),
);

ui.logout.addEventListener('click', () =>
  void run(async () => {
    const logoutUrl = await client.logout();
    showLoggedOut('Logged out');
    if (logoutUrl) location.assign(logoutUrl);
  }),
);

void run(onPageLoad);

// A page restored from the back/forward cache shows what it showed when left; ask again, since the
// session may have ended (logout in another tab) in the meantime.
addEventListener('pageshow', (event) => {
  if (event.persisted) void run(async () => showSession(await client.session()));
});

/**
 * The OAuth agent (contract §1): `createAgent` composes the operations, one file each, data in and
 * data out. Each takes the request's cookies (and form fields) and returns the JSON body plus the
 * cookies to set or clear; the app only does HTTP.
 */
import type { Config } from '../types.js';
import { createSealer, type Sealer } from '../session/cookie-seal.js';
import type { CookieNames } from '../session/cookie-table.js';
import type { Revocations } from '../session/revocation.js';
import type { RefreshCoordination } from '../session/refresh-coordination.js';
import { createOidcClient, type CoreDeps, type OidcClient } from '../oidc/oidc-client.js';
import type { AgentContext, AgentResult, Cookies, Params, SessionBody } from './context.js';
import { backchannelLogout, type BackchannelLogoutBody } from './backchannel-logout.js';
import { endLogin } from './end-login.js';
import { logout, type LogoutBody } from './logout.js';
import { refresh, type RefreshBody } from './refresh.js';
import { readAccessToken, readSession, type AccessTokenRead } from './session.js';
import { startLogin, type StartLoginBody } from './start-login.js';
import { userinfo, type UserinfoBody } from './userinfo.js';

export type { AgentResult, Cookies, Params, SessionBody } from './context.js';
export type { AccessTokenRead } from './session.js';
export { MAX_SESSION_COOKIE_BYTES } from '../session/session-cookies.js';

export interface Agent {
  readonly names: CookieNames;
  readonly oidc: OidcClient;
  readonly sealer: Sealer;
  startLogin(params: Params, cookies: Cookies): Promise<AgentResult<StartLoginBody>>;
  endLogin(params: Params, cookies: Cookies): Promise<AgentResult<SessionBody>>;
  /** The session body; cookies that do not make one session are cleared. */
  getSession(cookies: Cookies): Promise<AgentResult<SessionBody>>;
  refresh(params: Params, cookies: Cookies): Promise<AgentResult<RefreshBody>>;
  logout(cookies: Cookies): Promise<AgentResult<LogoutBody>>;
  /** The IdP's userinfo for the session's access token. */
  userinfo(cookies: Cookies): Promise<AgentResult<UserinfoBody>>;
  /** For the proxy: the access token, or undefined when there is none to use. */
  readAccessToken(cookies: Cookies): Promise<AccessTokenRead | undefined>;
  /** The IdP's back-channel logout (contract §6.2); 404 when TH_BACKCHANNEL_LOGOUT is off. */
  backchannelLogout(params: Params): Promise<AgentResult<BackchannelLogoutBody>>;
}

/** `shared`: what lives in the session store (contract §6); without it, nothing is shared. */
export function createAgent(config: Config, deps: CoreDeps, sealer: Sealer = createSealer(config.cookieKeys, deps.now), shared: { readonly revocations?: Revocations; readonly refreshes?: RefreshCoordination } = {}): Agent {
  const names = config.cookieNames;
  const oidc = createOidcClient(config, deps);
  const ctx: AgentContext = { config, names, agentPath: config.agentPath, sealer, oidc, now: deps.now, ...(shared.revocations ? { revocations: shared.revocations } : {}), ...(shared.refreshes ? { refreshes: shared.refreshes } : {}) };
  return {
    names,
    oidc,
    sealer,
    startLogin: (params, cookies) => startLogin(ctx, params, cookies),
    endLogin: (params, cookies) => endLogin(ctx, params, cookies),
    getSession: (cookies) => readSession(ctx, cookies),
    refresh: (params, cookies) => refresh(ctx, params, cookies),
    logout: (cookies) => logout(ctx, cookies),
    userinfo: (cookies) => userinfo(ctx, cookies),
    readAccessToken: (cookies) => readAccessToken(ctx, cookies),
    backchannelLogout: (params) => backchannelLogout(ctx, params),
  };
}

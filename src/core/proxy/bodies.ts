/** Statuses whose responses never carry a body (RFC 9110 §6.4.1); 1xx never reach the proxy. */
export const NULL_BODY_STATUS: ReadonlySet<number> = new Set([101, 204, 205, 304]);

/** Whether an answer to `method` with `status` has no body to pass on (HEAD answers never do). */
export function answerHasNoBody(method: string, status: number): boolean {
  return method === 'HEAD' || NULL_BODY_STATUS.has(status);
}

/** GET and HEAD requests go upstream without a body, whatever the client sent. */
export function requestHasNoBody(method: string): boolean {
  return method === 'GET' || method === 'HEAD';
}

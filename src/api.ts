import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/**
 * The server answered with an error (or could not be reached). `message` is plain
 * English; `code` and `params` let the UI say it in the user's language.
 */
export class UsageApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string = status === 0 ? 'error.unreachable' : 'error.http',
    readonly params: { [name: string]: unknown } = { status, message }
  ) {
    super(message);
  }
}

/** Query parameters; `undefined` ones are left out. */
export type UsageQuery = { [key: string]: string | number | undefined };

/** The URL of a jupyter-usage endpoint (`/api/usage/v1/<path>`). */
export function usageUrl(
  path: string,
  query: UsageQuery = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) {
      params.set(key, String(value));
    }
  }
  const search = params.toString();
  return (
    URLExt.join(settings.baseUrl, 'api', 'usage', 'v1', path) +
    (search ? `?${search}` : '')
  );
}

async function send<T>(
  url: string,
  init: RequestInit,
  settings: ServerConnection.ISettings
): Promise<T> {
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new UsageApiError('The server cannot be reached.', 0);
  }
  let body: any = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message =
      body && typeof body.message === 'string'
        ? body.message
        : `The server answered ${response.status}.`;
    throw new UsageApiError(
      message,
      response.status,
      body && typeof body.code === 'string' ? body.code : undefined,
      body && body.params && typeof body.params === 'object'
        ? body.params
        : undefined
    );
  }
  return body as T;
}

/**
 * GET a jupyter-usage endpoint (`/api/usage/v1/<path>`) and decode its JSON.
 */
export async function requestUsage<T>(
  path: string,
  query: UsageQuery = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  // 'no-cache', not JupyterLab's default 'no-store': with 'no-store' it appends a
  // cache-busting `?<time>` the API rejects as an unknown parameter; the API's
  // answers say `Cache-Control: no-store` themselves.
  return send<T>(
    usageUrl(path, query, settings),
    { cache: 'no-cache' },
    settings
  );
}

/**
 * POST JSON to a jupyter-usage endpoint; resolves to the decoded answer (or null).
 */
export async function postUsage<T>(
  path: string,
  body: unknown,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  return send<T>(
    usageUrl(path, {}, settings),
    {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json' }
    },
    settings
  );
}

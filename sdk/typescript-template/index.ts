// The HaloLight API's fetch client: openapi-fetch, typed by schema.d.ts (openapi-typescript, generated from
// spec/openapi.yaml by `make sdk`). Copied from sdk/typescript-template/; edit it there.
import createClient, { type Client, type ClientOptions, type Middleware } from "openapi-fetch";

import type { components, operations, paths } from "./schema";

export type { components, operations, paths };
/** The spec's component schemas by name: `Schemas["User"]`, `Schemas["AuthResponse"]`, ... */
export type Schemas = components["schemas"];

/** `baseUrl` is where the API is served (e.g. `http://127.0.0.1:8000`); paths start with `/api/`. */
export function createHaloLightClient(options: ClientOptions = {}): Client<paths> {
  return createClient<paths>(options);
}

/** Sends `Authorization: Bearer <token>` with every request while `token()` returns one. */
export function bearerAuth(token: () => string | undefined): Middleware {
  return {
    onRequest({ request }) {
      const value = token();
      if (value) request.headers.set("Authorization", `Bearer ${value}`);
      return request;
    },
  };
}

/** One live update (the `Events` tag): `type` is `notification`, `message`, `unread` or a newer one. */
export interface LiveEvent {
  id: string;
  type: string;
  data: Record<string, unknown>;
}

export interface EventStreamOptions {
  /** The event types to receive (default: the documented ones). */
  types?: string[];
  /** Called once when the stream stops for good: `revoked` (logged out, disabled) or `unauthorized`. */
  onEnd?: (reason: string) => void;
}

/**
 * Opens the caller's live updates in a browser: asks for a single-use stream ticket with the client's bearer
 * token (`POST /api/events/tickets`; `EventSource` cannot send `Authorization`), then opens
 * `EventSource("/api/events/stream?ticket=…")`. When the server ends the stream (`end` event: the token or
 * the maximum duration ran out, a bounded replay, a restart) or the connection fails, it asks for a new
 * ticket and reconnects with `after=<last id>`, so no event is lost or seen twice. Returns `close()`.
 *
 * ```ts
 * const api = createHaloLightClient({ baseUrl });
 * api.use(bearerAuth(() => session.accessToken));
 * const close = openEventStream(api, baseUrl, (event) => {
 *   if (event.type === "notification") showToast(event.data.title as string);
 * });
 * ```
 */
export function openEventStream(
  client: Client<paths>,
  baseUrl: string,
  onEvent: (event: LiveEvent) => void,
  options: EventStreamOptions = {},
): () => void {
  const types = options.types ?? ["notification", "message", "unread"];
  let source: EventSource | undefined;
  let lastId: string | undefined;
  let closed = false;

  const stop = (reason: string): void => {
    closed = true;
    source?.close();
    options.onEnd?.(reason);
  };
  const reconnect = (delayMs: number): void => {
    source?.close();
    if (!closed) setTimeout(() => void connect(), delayMs);
  };

  async function connect(): Promise<void> {
    if (closed) return;
    const { data, response } = await client.POST("/api/events/tickets");
    if (!data) {
      if (response.status === 401) stop("unauthorized");
      else reconnect(5000);
      return;
    }
    const url = new URL("/api/events/stream", baseUrl);
    url.searchParams.set("ticket", data.ticket);
    if (lastId !== undefined) url.searchParams.set("after", lastId);
    source = new EventSource(url);
    const deliver = (message: MessageEvent<string>): void => {
      lastId = message.lastEventId;
      onEvent({ id: message.lastEventId, type: message.type, data: JSON.parse(message.data) });
    };
    for (const type of types) source.addEventListener(type, deliver);
    source.addEventListener("end", (message: MessageEvent<string>) => {
      const { reason } = JSON.parse(message.data) as { reason: string };
      if (reason === "revoked") stop(reason);
      else reconnect(reason === "replay" ? 0 : 1000);
    });
    // A ticket works once: EventSource's own retry would be refused, so reconnect with a new one.
    source.onerror = () => reconnect(2000);
  }

  void connect();
  return () => {
    closed = true;
    source?.close();
  };
}

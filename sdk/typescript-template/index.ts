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

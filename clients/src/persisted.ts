// The persisted-query manifest: every operation of src/operations as the exact text Apollo
// Client sends, keyed by the SHA-256 the persisted-queries link computes over that text.
// A server in allow-list mode accepts only these.
import { ApolloClient, ApolloLink } from '@apollo/client';
import { print } from '@apollo/client/utilities';
import { Kind, visit } from 'graphql';
import type { DocumentNode } from 'graphql';

import { createCache, sha256Hex } from './client.js';
import * as generated from './generated/graphql.js';

// Directives Apollo Client strips before a document reaches the link chain. None of our
// operations uses them; if one ever does, the manifest would need that step as well, so
// it refuses rather than register text the client never sends.
const clientOnlyDirectives = new Set(['client', 'connection', 'nonreactive', 'unmask', 'export']);

/** One operation of the manifest. */
export interface PersistedOperation {
  name: string;
  hash: string;
  text: string;
}

/** The operation documents codegen generated, in a stable order (by operation name). */
export function operationDocuments(): Map<string, DocumentNode> {
  const byName = new Map<string, DocumentNode>();
  for (const value of Object.values(generated)) {
    if (!isDocument(value)) {
      continue;
    }
    for (const def of value.definitions) {
      if (def.kind === Kind.OPERATION_DEFINITION && def.name) {
        byName.set(def.name.value, value);
      }
    }
  }
  return new Map([...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The text the link chain receives for document: Apollo runs the client's document
 * transforms (the cache's adds `__typename` to every selection set) and the cache's
 * link transform, and the persisted-queries and WebSocket links print the result with
 * Apollo's `print`. The same client setup as createInkwellClient's gives the same text.
 */
export function linkText(client: ApolloClient, document: DocumentNode): string {
  visit(document, {
    Directive(node) {
      if (clientOnlyDirectives.has(node.name.value)) {
        throw new Error(`@${node.name.value} is not supported in persisted operations`);
      }
    },
  });
  return print(client.cache.transformForLink(client.documentTransform.transformDocument(document)));
}

/** Every operation with its hash and text, ordered by name. */
export function persistedOperations(): PersistedOperation[] {
  const client = new ApolloClient({ cache: createCache(), link: ApolloLink.empty() });
  try {
    return [...operationDocuments()].map(([name, document]) => {
      const text = linkText(client, document);
      return { name, hash: sha256Hex(text), text };
    });
  } finally {
    client.stop();
  }
}

/** The manifest file's content: `{"<sha256 hex>": "<query text>"}`, ordered by operation name. */
export function manifestJSON(): string {
  const manifest: Record<string, string> = {};
  for (const op of persistedOperations()) {
    manifest[op.hash] = op.text;
  }
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

function isDocument(value: unknown): value is DocumentNode {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === Kind.DOCUMENT;
}

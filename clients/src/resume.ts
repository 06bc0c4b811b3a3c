// Resumable subscriptions: notificationAdded and feedArticleAdded take `after`, the id of
// the last item received, and send what came since before going live. graphql-ws would
// resubscribe after a dropped socket with the variables of the first subscribe, so this
// subscribes again itself, from the newest id, and drops an item it has already passed on
// (a replay may overlap what came just before the drop).
import type { TypedDocumentNode } from '@apollo/client';
import { Observable } from 'rxjs';

import type { InkwellClient } from './client.js';

export interface ResumableOptions<TData> {
  /** A subscription whose only variable is `after: ID`. */
  query: TypedDocumentNode<TData, { after?: string | null }>;
  /**
   * The id of the newest item the app shows already (say, the bell's first notification);
   * null starts from now, and resumes from the first item received.
   */
  after?: string | null;
  /** The id of the item an event carries: where to resume after it. */
  cursorOf: (data: TData) => string;
}

/** Subscribes to options.query, resuming after each reconnection where it left off. */
export function subscribeResumable<TData>(ink: InkwellClient, options: ResumableOptions<TData>): Observable<TData> {
  return new Observable<TData>((observer) => {
    let after = options.after ?? null;
    const seen = new Set<string>();
    let inner: { unsubscribe(): void } | undefined;
    const start = () => {
      inner?.unsubscribe();
      inner = ink.client.subscribe({ query: options.query, variables: { after } }).subscribe({
        next: (result) => {
          if (result.error) {
            observer.error(result.error);
            return;
          }
          if (!result.data) {
            return;
          }
          const data = result.data as TData;
          const cursor = options.cursorOf(data);
          if (seen.has(cursor)) {
            return;
          }
          seen.add(cursor);
          after = cursor;
          observer.next(data);
        },
        error: (err: unknown) => observer.error(err),
        complete: () => observer.complete(),
      });
    };
    // A closed socket (dropped, or closed by the server for an expired token): subscribe
    // again from the newest id; graphql-ws reconnects for it, refreshing the token first.
    const offClosed = ink.ws.on('closed', () => {
      if (!observer.closed) {
        start();
      }
    });
    start();
    return () => {
      offClosed();
      inner?.unsubscribe();
    };
  });
}

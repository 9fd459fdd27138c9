// A promise whose failure is awaited later, after other awaits: marked as handled now, since a
// rejection that finds no handler ends a Node process (a server gone for every client because one
// send failed while the next thing was being made). Whoever awaits it still sees the failure.
export function awaitedLater<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

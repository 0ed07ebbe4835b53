/**
 * Takes results in the order they were started, each as soon as it and all before it are ready,
 * with at most `limit` waiting. `add` resolves when there is room for another.
 */
export class OrderedConsumer<T> {
  private tail: Promise<void> = Promise.resolve();
  private waiting = 0;
  private roomMade: (() => void) | undefined;
  private failure: unknown;

  constructor(private limit: number, private take: (result: T) => Promise<void>) {}

  async add(result: Promise<T>): Promise<void> {
    if (this.failure) throw this.failure;
    this.waiting++;
    this.tail = this.tail
      .then(async () => {
        if (this.failure === undefined) await this.take(await result);
      })
      .catch((err) => {
        this.failure ??= err;
      })
      .finally(() => {
        this.waiting--;
        this.roomMade?.();
      });
    while (this.waiting >= this.limit && this.failure === undefined) {
      await new Promise<void>((resolve) => (this.roomMade = resolve));
    }
    if (this.failure) throw this.failure;
  }

  /** Waits for every result added so far to be taken. */
  async drain(): Promise<void> {
    await this.tail;
    if (this.failure) throw this.failure;
  }
}

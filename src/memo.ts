/**
 * Values computed from text that rarely changes (decrypted secrets, parsed endpoints, decoded
 * signing keys), kept so a delivery does not compute them again. When it holds `maxEntries`
 * it starts over: bounded and simple; an LRU would keep hot entries across the reset, which
 * no profile has asked for. A `compute` that throws stores nothing.
 */
export class BoundedMemo<K, V> {
  private readonly values = new Map<K, V>();

  constructor(private readonly maxEntries: number) {}

  get(key: K, compute: (key: K) => V): V {
    let value = this.values.get(key);
    if (value === undefined) {
      value = compute(key);
      if (this.values.size >= this.maxEntries) this.values.clear();
      this.values.set(key, value);
    }
    return value;
  }
}

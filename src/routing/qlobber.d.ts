// Types for the devDependency qlobber, the peer PatternIndex is checked and benchmarked against.
declare module 'qlobber' {
  export interface QlobberOptions {
    separator?: string;
    wildcard_one?: string;
    wildcard_some?: string;
    max_words?: number;
    max_wildcard_somes?: number;
  }
  export class Qlobber<T> {
    constructor(options?: QlobberOptions);
    add(topic: string, value: T): this;
    remove(topic: string, value?: T): this;
    match(topic: string): T[];
  }
  export class QlobberDedup<T> {
    constructor(options?: QlobberOptions);
    add(topic: string, value: T): this;
    remove(topic: string, value?: T): this;
    match(topic: string): Set<T>;
  }
}

declare module 'aedes-persistence-level/asyncPersistence.js' {
  /** The async persistence class aedes 1.x needs; the package's main export is the callback wrapper. */
  export default class AsyncLevelPersistence {
    /** An open `level` database whose values are buffers. */
    constructor(db: object);
    setup(broker: unknown): Promise<void>;
    destroy(): Promise<void>;
  }
}

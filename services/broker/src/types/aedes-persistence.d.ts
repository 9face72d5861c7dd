declare module 'aedes-persistence/asyncPersistence.js' {
  /** aedes' in-memory store in the async form aedes 1.x needs; the package's main export is the callback wrapper. */
  export default class MemoryPersistence {
    constructor();
    setup(broker: unknown): Promise<void>;
    destroy(): Promise<void>;
  }
}

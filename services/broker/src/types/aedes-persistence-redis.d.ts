declare module 'aedes-persistence-redis/asyncPersistence.js' {
  /**
   * The async persistence class aedes 1.x needs (the package's main export is the callback
   * wrapper). Its "streams" are async generators; see redis-persistence.ts.
   */
  export default class AsyncRedisPersistence {
    /** `conn`: an ioredis connection it uses (and disconnects in `destroy`); `maxSessionDelivery`: queued messages read per reconnect. */
    constructor(opts: { conn: unknown; maxSessionDelivery?: number });
  }
}

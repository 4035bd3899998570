/**
 * Backend selection › PostgreSQL Backend › Advanced Configuration.
 */
import { DefaultRunner } from "../../src/index.js";

// Connection pooling: pool_max_size bounds the pool (the dbPoolSize option is the same setting; don't give both);
// pool_min_size idle connections are kept open instead of being closed after 30 s idle.
export function pooledRunner(
  url = "postgresql://user:password@localhost:5432/cloacina?pool_min_size=5&pool_max_size=20",
): DefaultRunner {
  return new DefaultRunner(url);
}

// SSL configuration (libpq meaning: encrypt, do not verify the certificate; verify-ca / verify-full verify)
export function sslRunner(url = "postgresql://user:password@host:5432/db?sslmode=require"): DefaultRunner {
  return new DefaultRunner(url);
}

// Connection timeout, in whole seconds, for each connection attempt
export function connectTimeoutRunner(url = "postgresql://user:password@host:5432/db?connect_timeout=10"): DefaultRunner {
  return new DefaultRunner(url);
}

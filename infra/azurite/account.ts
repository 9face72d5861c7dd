/**
 * Azurite's development account: a public, published name and key (the same in every Azurite and
 * in Microsoft's documentation), not a secret. Only the dev stack and tests use it; sync itself
 * knows only `UseDevelopmentStorage=true`, Azure's own name for it on the default port.
 */
export const AZURITE_ACCOUNT_NAME = 'devstoreaccount1';
export const AZURITE_ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** A connection string for an Azurite blob service on `host:port`. */
export function azuriteConnectionString(host = '127.0.0.1', port = 10000): string {
  return `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT_NAME};AccountKey=${AZURITE_ACCOUNT_KEY};BlobEndpoint=http://${host}:${port}/${AZURITE_ACCOUNT_NAME};`;
}

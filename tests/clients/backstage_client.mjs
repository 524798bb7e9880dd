// Drives Backstage's real @backstage/catalog-client against a goldenpath server and prints
// one JSON object with what each call returned (tests/clients/test_backstage_client.py asserts
// on it). Usage: GP_URL=http://127.0.0.1:PORT GP_TOKEN=gp_... node backstage_client.mjs
import { CatalogClient } from '@backstage/catalog-client';

const baseUrl = process.env.GP_URL;
const token = process.env.GP_TOKEN;
if (!baseUrl || !token) {
  console.error('set GP_URL and GP_TOKEN');
  process.exit(2);
}

const client = new CatalogClient({
  discoveryApi: { getBaseUrl: async () => `${baseUrl}/api/catalog` },
  fetchApi: { fetch: globalThis.fetch },
});
const opts = { token };
const names = (entities) => entities.map((e) => (e ? e.metadata.name : null));

async function errorOf(promise) {
  try {
    await promise;
    return null;
  } catch (e) {
    return { name: e.name, status: e.response?.status ?? null };
  }
}

async function pagesOf(request) {
  const pages = [];
  let page = await client.queryEntities(request, opts);
  const totalItems = page.totalItems;
  pages.push(names(page.items));
  while (page.pageInfo.nextCursor && pages.length < 50) {
    page = await client.queryEntities({ cursor: page.pageInfo.nextCursor, limit: request.limit }, opts);
    pages.push(names(page.items));
  }
  return { totalItems, pages };
}

const out = {};
const listed = await client.getEntities(
  { filter: { kind: 'Component' }, fields: ['kind', 'metadata.name', 'spec.type'],
    order: { field: 'metadata.name', order: 'asc' } },
  opts,
);
out.list = listed.items;
out.listOr = names((await client.getEntities(
  { filter: [{ kind: 'Group' }, { kind: 'System' }], order: { field: 'metadata.name', order: 'asc' } },
  opts,
)).items);
const got = await client.getEntityByRef('component:default/checkout', opts);
out.get = got ?? null;
out.getMissing = (await client.getEntityByRef('component:default/does-not-exist', opts)) ?? null;
out.query = await pagesOf({
  filter: { kind: 'Component' }, limit: 2, orderFields: { field: 'metadata.name', order: 'asc' },
});
out.queryText = await pagesOf({ fullTextFilter: { term: 'payments' }, limit: 10 });
out.byRefs = names((await client.getEntitiesByRefs(
  { entityRefs: ['component:default/checkout', 'component:default/nope', 'group:default/team-a'],
    fields: ['kind', 'metadata.name'] },
  opts,
)).items);
out.facets = (await client.getEntityFacets({ facets: ['kind', 'spec.type'] }, opts)).facets;
out.facetsFiltered = (await client.getEntityFacets(
  { facets: ['spec.type'], filter: { kind: 'Component' } }, opts,
)).facets;
out.ancestors = await client.getEntityAncestors({ entityRef: 'component:default/checkout' }, opts);
out.locations = (await client.getLocations({}, opts)).items;
out.unauthorized = await errorOf(client.getEntities({}, { token: 'gp_not-a-token' }));
console.log(JSON.stringify(out));

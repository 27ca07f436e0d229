import { adminTokenResolver, authenticate, authorize, bearerToken, chainResolvers, staticTokenResolver } from '../../gateway/api/auth';

const ADMIN = 'admin-token-0123456789abcdef';

describe('bearerToken', () => {
  it('reads RFC 6750 bearer tokens, case-insensitive scheme', () => {
    expect(bearerToken({})).toBeUndefined();
    expect(bearerToken({ authorization: '' })).toBeUndefined();
    expect(bearerToken({ authorization: `Bearer ${ADMIN}` })).toBe(ADMIN);
    expect(bearerToken({ authorization: `bearer   ${ADMIN} ` })).toBe(ADMIN);
    expect(bearerToken({ authorization: 'Bearer abc.DEF-_~+/==' })).toBe('abc.DEF-_~+/==');
    expect(bearerToken({ authorization: `Basic ${ADMIN}` })).toBeNull();
    expect(bearerToken({ authorization: 'Bearer' })).toBeNull();
    expect(bearerToken({ authorization: 'Bearer a b' })).toBeNull();
  });
});

describe('resolvers', () => {
  it('admin resolver knows only its token', async () => {
    const r = adminTokenResolver(ADMIN);
    expect(r.resolve(ADMIN)).toEqual({ kind: 'admin' });
    expect(r.resolve(ADMIN.toUpperCase())).toBeNull();
    expect(() => adminTokenResolver('short')).toThrow();
  });

  it('buyer tokens can be chained behind the admin token', async () => {
    const buyer = { kind: 'buyer' as const, account: 'b1', points: [{ devices: 'purifier-*', point: 'hardness' }] };
    const r = chainResolvers(adminTokenResolver(ADMIN), staticTokenResolver([{ token: 'buyer-token-0123456789', principal: buyer }]));
    expect(await r.resolve(ADMIN)).toEqual({ kind: 'admin' });
    expect(await r.resolve('buyer-token-0123456789')).toEqual(buyer);
    expect(await r.resolve('nobody-0123456789')).toBeNull();
  });

  it('authenticate/authorize throw the coded 401/403', async () => {
    const r = adminTokenResolver(ADMIN);
    await expect(authenticate(r, undefined)).rejects.toMatchObject({ code: 'GW_ERR_UNAUTHORIZED', status: 401 });
    await expect(authenticate(r, null)).rejects.toMatchObject({
      status: 401,
      headers: { 'WWW-Authenticate': expect.stringContaining('invalid_token') },
    });
    await expect(authenticate(r, 'x')).rejects.toMatchObject({ status: 401 });
    await expect(authenticate(r, ADMIN)).resolves.toEqual({ kind: 'admin' });
    expect(() => authorize('admin', { kind: 'buyer', account: 'b', points: [] })).toThrow(expect.objectContaining({ status: 403 }));
    expect(() => authorize('authenticated', { kind: 'buyer', account: 'b', points: [] })).not.toThrow();
  });
});

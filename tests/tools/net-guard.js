// Loopback guard for Node processes started by the tests (the Microsoft 365 Agents Playground,
// Azurite). Preload it with: NODE_OPTIONS="--require <repo>/tests/tools/net-guard.js"
//
//  * refuses every outbound TCP connection, UDP datagram and DNS query that is not loopback;
//  * makes servers that would listen on all interfaces (the playground has no host option)
//    listen on 127.0.0.1 instead;
//  * reports each refusal on stderr, and logs all activity to $NET_GUARD_LOG when it is set.
'use strict';

const fs = require('fs');
const net = require('net');
const dns = require('dns');
const dgram = require('dgram');

const LOG_FILE = process.env.NET_GUARD_LOG || '';
const LOOPBACK = '127.0.0.1';

function log(message) {
  if (!LOG_FILE) return;
  try {
    fs.appendFileSync(LOG_FILE, `${new Date().toISOString()} pid=${process.pid} ${message}\n`);
  } catch (_) {
    // Logging must never break the guarded process.
  }
}

function refused(message) {
  log(`BLOCKED ${message}`);
  try {
    process.stderr.write(`[net-guard] blocked ${message}\n`);
  } catch (_) {
    // stderr may be closed.
  }
}

function isLoopback(host) {
  if (host === undefined || host === null || host === '') return true; // Node defaults to localhost
  if (typeof host !== 'string') return false;
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h === 'localhost' || h === 'localhost.') return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) {
    if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    return mapped !== null && mapped[1].startsWith('127.');
  }
  return false;
}

function isAnyAddress(host) {
  return host === '0.0.0.0' || host === '::' || host === '[::]' || host === '::0';
}

// ---- outbound TCP (net, tls, http, https, undici/fetch all end in Socket#connect)
const originalConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(...args) {
  let options = args[0];
  if (Array.isArray(options)) options = options[0]; // internal normalized form
  let host;
  let port;
  let path;
  if (options !== null && typeof options === 'object') {
    ({ host, port, path } = options);
  } else if (typeof options === 'string' && !/^\d+$/.test(options)) {
    path = options; // connect(path[, listener]): a unix socket
  } else {
    port = options;
    host = typeof args[1] === 'string' ? args[1] : undefined;
  }
  if (path) return originalConnect.apply(this, args);
  if (!isLoopback(host) && !isAnyAddress(host)) {
    refused(`connect ${host}:${port}`);
    const error = Object.assign(new Error(`net-guard refused a connection to ${host}:${port}`), {
      code: 'ECONNREFUSED',
      address: host,
      port,
    });
    process.nextTick(() => this.destroy(error));
    return this;
  }
  log(`allow connect ${host || 'localhost'}:${port}`);
  return originalConnect.apply(this, args);
};

// ---- UDP
const originalSend = dgram.Socket.prototype.send;
dgram.Socket.prototype.send = function guardedSend(...args) {
  const address = args.find((a, i) => i > 0 && typeof a === 'string');
  if (address !== undefined && !isLoopback(address)) {
    refused(`udp send ${address}`);
    const callback = args[args.length - 1];
    if (typeof callback === 'function') {
      process.nextTick(() => callback(Object.assign(new Error('net-guard'), { code: 'ECONNREFUSED' })));
    }
    return undefined;
  }
  return originalSend.apply(this, args);
};
const originalUdpConnect = dgram.Socket.prototype.connect;
if (originalUdpConnect) {
  dgram.Socket.prototype.connect = function guardedUdpConnect(port, address, callback) {
    if (typeof address === 'string' && !isLoopback(address)) {
      refused(`udp connect ${address}:${port}`);
      const error = Object.assign(new Error('net-guard'), { code: 'ECONNREFUSED' });
      if (typeof callback === 'function') process.nextTick(() => callback(error));
      return undefined;
    }
    return originalUdpConnect.apply(this, [port, address, callback].filter((a) => a !== undefined));
  };
}

// ---- DNS: only loopback names resolve
function dnsError(hostname, syscall) {
  return Object.assign(new Error(`net-guard refused DNS ${syscall} ${hostname}`), {
    code: 'ENOTFOUND',
    errno: -3008,
    syscall,
    hostname,
  });
}

const originalLookup = dns.lookup;
dns.lookup = function guardedLookup(hostname, options, callback) {
  if (typeof options === 'function') {
    callback = options;
    options = {};
  }
  if (!isLoopback(hostname)) {
    refused(`dns.lookup ${hostname}`);
    process.nextTick(() => callback(dnsError(hostname, 'getaddrinfo')));
    return {};
  }
  return originalLookup.call(this, hostname, options, callback);
};

const RESOLVE_METHODS = [
  'resolve', 'resolve4', 'resolve6', 'resolveAny', 'resolveCaa', 'resolveCname', 'resolveMx',
  'resolveNaptr', 'resolveNs', 'resolvePtr', 'resolveSoa', 'resolveSrv', 'resolveTxt', 'reverse',
  'lookupService',
];

function blockCallbackApi(target) {
  for (const name of RESOLVE_METHODS) {
    if (typeof target[name] !== 'function') continue;
    target[name] = function guardedResolve(hostname, ...rest) {
      refused(`dns.${name} ${hostname}`);
      const callback = rest[rest.length - 1];
      if (typeof callback === 'function') {
        process.nextTick(() => callback(dnsError(hostname, name)));
      }
      return {};
    };
  }
}

function blockPromiseApi(target) {
  for (const name of RESOLVE_METHODS) {
    if (typeof target[name] !== 'function') continue;
    target[name] = async function guardedResolve(hostname) {
      refused(`dns.promises.${name} ${hostname}`);
      throw dnsError(hostname, name);
    };
  }
}

blockCallbackApi(dns);
blockCallbackApi(dns.Resolver.prototype);
if (dns.promises) {
  const originalPromiseLookup = dns.promises.lookup;
  dns.promises.lookup = async function guardedPromiseLookup(hostname, options) {
    if (!isLoopback(hostname)) {
      refused(`dns.promises.lookup ${hostname}`);
      throw dnsError(hostname, 'getaddrinfo');
    }
    return originalPromiseLookup.call(this, hostname, options);
  };
  blockPromiseApi(dns.promises);
  blockPromiseApi(dns.promises.Resolver.prototype);
}

// ---- servers: never listen beyond loopback
const originalListen = net.Server.prototype.listen;
net.Server.prototype.listen = function guardedListen(...args) {
  const first = args[0];
  if (first === undefined || typeof first === 'function') {
    args.unshift(0, LOOPBACK); // listen() / listen(callback): a random port on every interface
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof args[1] !== 'string') {
      args.splice(1, 0, LOOPBACK);
    } else if (args[1] === '' || !isLoopback(args[1])) {
      args[1] = LOOPBACK;
    }
  } else if (first !== null && typeof first === 'object' && first.path === undefined
    && first.fd === undefined && first._handle === undefined && first.handle === undefined) {
    if (!first.host || !isLoopback(first.host)) {
      args[0] = { ...first, host: LOOPBACK };
    }
  }
  log(`listen ${JSON.stringify(typeof args[0] === 'object' ? args[0] : args.slice(0, 2))}`);
  return originalListen.apply(this, args);
};

log(`net-guard loaded argv=${JSON.stringify(process.argv.slice(1, 3))}`);

// The npm package `socks` as a client, run in the client role:
//   node socks_client.js '{"mode": "connect"|"bind"|"associate", "proxy": {...},
//                          "destination": {"host": ..., "port": ...}, "payload": "..."}'
// connect:   CONNECT, send payload, half-close, print `reply <data>` once the target closes.
// bind:      BIND; print `bound HOST PORT` (the first reply), then on the second reply print
//            `established HOST PORT` (the connecting peer) and echo that connection.
// associate: UDP ASSOCIATE; send payload in one datagram to destination through the relay,
//            print `reply <data> from HOST:PORT` for the datagram that comes back.
'use strict';
const dgram = require('dgram');
const net = require('net');
const {SocksClient} = require('socks');

const args = JSON.parse(process.argv[2]);
const proxy = Object.assign({type: 5}, args.proxy);
const timer = setTimeout(() => fail(new Error('timed out')), 15000);

function fail(err) {
  process.stderr.write(`error: ${err && err.message}\n`);
  process.exit(1);
}

function done() {
  clearTimeout(timer);
}

async function connect() {
  const {socket} = await SocksClient.createConnection(
      {proxy, command: 'connect', destination: args.destination, timeout: 10000});
  const chunks = [];
  socket.on('data', (c) => chunks.push(c));
  socket.on('end', () => {
    process.stdout.write(`reply ${Buffer.concat(chunks).toString()}\n`);
    done();
    socket.destroy();
  });
  socket.end(args.payload);
}

function bind() {
  const client = new SocksClient(
      {proxy, command: 'bind', destination: args.destination, timeout: 10000});
  client.on('error', fail);
  client.on('bound', (info) => {
    process.stdout.write(`bound ${info.remoteHost.host} ${info.remoteHost.port}\n`);
  });
  client.on('established', (info) => {
    process.stdout.write(`established ${info.remoteHost.host} ${info.remoteHost.port}\n`);
    info.socket.on('data', (c) => info.socket.write(c));
    info.socket.on('end', () => {
      info.socket.end();
      done();
    });
  });
  client.connect();
}

function associate() {
  // createConnection() refuses 'associate'; the event API does it.
  const client = new SocksClient(
      {proxy, command: 'associate', destination: {host: '0.0.0.0', port: 0}, timeout: 10000});
  client.on('error', fail);
  client.on('established', ({socket, remoteHost}) => {
    const udp = dgram.createSocket(net.isIPv6(remoteHost.host) ? 'udp6' : 'udp4');
    udp.on('error', fail);
    udp.on('message', (message) => {
      const frame = SocksClient.parseUDPFrame(message);
      process.stdout.write(`reply ${frame.data.toString()} from ` +
                           `${frame.remoteHost.host}:${frame.remoteHost.port}\n`);
      udp.close();
      socket.destroy();
      done();
    });
    const frame = SocksClient.createUDPFrame(
        {remoteHost: args.destination, data: Buffer.from(args.payload)});
    udp.send(frame, remoteHost.port, remoteHost.host);
  });
  client.connect();
}

const modes = {connect, bind, associate};
Promise.resolve().then(() => modes[args.mode]()).catch(fail);

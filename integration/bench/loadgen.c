// Load generator for integration/bench/run.py: SOCKS5 client side of every benchmark, plus the
// loopback targets (sink, source, TCP echo, UDP echo) it talks to through the proxy.
// Python is too slow to measure a proxy that moves GiB/s; this does the byte work in C.
//
//   loadgen stream   --proxy HOST:PORT|direct --dir up|down --bytes N
//   loadgen sessions --proxy HOST:PORT|direct --concurrency C --seconds T [--count N]
//                    (each: connect, handshake, 1-byte echo, the server closes, the client closes;
//                    with --count, exactly N sessions are started and all are waited for, T is
//                    then only a time limit: the system-call counts of run.py need exact N)
//   loadgen udp      --proxy HOST:PORT|direct --inflight K --seconds T   (K = 1: ping-pong)
//   loadgen echo                          TCP echo server; prints port=P; exits on stdin EOF
//   loadgen hold     --proxy HOST:PORT --target PORT --count N --seconds T
//                    opens up to N relayed sessions to 127.0.0.1:PORT one after another (for at
//                    most T seconds), prints held=K, keeps them open until stdin EOF
// Results are printed as key=value lines. Exit status: 0 ok, 1 failure, 3 the proxy answered
// REP 07 "command not supported" (UDP ASSOCIATE on a proxy without UDP).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define EXIT_UNSUPPORTED 3

static struct sockaddr_in proxy_addr;
static int use_proxy;

static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void Die(const char* what) {
  fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void ParseHostPort(const char* text, struct sockaddr_in* out) {
  char host[64];
  const char* colon = strrchr(text, ':');
  if (!colon || (size_t)(colon - text) >= sizeof host) {
    fprintf(stderr, "loadgen: bad HOST:PORT %s\n", text);
    exit(2);
  }
  memcpy(host, text, (size_t)(colon - text));
  host[colon - text] = 0;
  memset(out, 0, sizeof *out);
  out->sin_family = AF_INET;
  out->sin_port = htons((uint16_t)atoi(colon + 1));
  if (inet_pton(AF_INET, host, &out->sin_addr) != 1) {
    fprintf(stderr, "loadgen: bad host %s\n", host);
    exit(2);
  }
}

static struct sockaddr_in Loopback(uint16_t port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return a;
}

static int Listen(int type, uint16_t* port) {
  int fd = socket(AF_INET, type, 0);
  if (fd < 0) Die("socket");
  // No SO_REUSEADDR: port 0 then never lands on a port that still has TIME_WAIT connections
  // from an earlier run's listener; with it, a new connection could collide with one of them
  // and see its SYNs dropped for seconds.
  struct sockaddr_in a = Loopback(0);
  if (bind(fd, (struct sockaddr*)&a, sizeof a) != 0) Die("bind");
  if (type == SOCK_STREAM && listen(fd, 4096) != 0) Die("listen");
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr*)&a, &len);
  *port = ntohs(a.sin_port);
  return fd;
}

static int ReadFull(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static int WriteFull(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t r = write(fd, p, n);
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

// Encodes `05 CMD 00 01 ADDR PORT` (IPv4) into out[10].
static void EncodeRequest(uint8_t cmd, const struct sockaddr_in* dst, uint8_t out[10]) {
  out[0] = 5;
  out[1] = cmd;
  out[2] = 0;
  out[3] = 1;
  memcpy(out + 4, &dst->sin_addr, 4);
  memcpy(out + 8, &dst->sin_port, 2);
}

// Total length of a reply once enough of it is known, else 0.
static size_t ReplyLength(const uint8_t* b, size_t have) {
  if (have < 5) return 0;
  switch (b[3]) {
    case 1: return 10;
    case 4: return 22;
    case 3: return 7 + (size_t)b[4];
    default: return 5;  // malformed: the caller sees a bad reply
  }
}

// Blocking SOCKS5 handshake (no auth) on a connected socket. Returns REP (0 = success) or -1 on
// an I/O or format error; `bound` receives BND.ADDR:PORT for IPv4 replies.
static int Handshake(int fd, uint8_t cmd, const struct sockaddr_in* dst, struct sockaddr_in* bound) {
  uint8_t greeting[3] = {5, 1, 0};
  uint8_t buf[300];
  if (WriteFull(fd, greeting, 3) != 0 || ReadFull(fd, buf, 2) != 0) return -1;
  if (buf[0] != 5 || buf[1] != 0) return -1;
  uint8_t request[10];
  EncodeRequest(cmd, dst, request);
  if (WriteFull(fd, request, 10) != 0 || ReadFull(fd, buf, 5) != 0) return -1;
  size_t total = ReplyLength(buf, 5);
  if (buf[0] != 5 || total < 10) return buf[0] == 5 ? buf[1] : -1;
  if (ReadFull(fd, buf + 5, total - 5) != 0) return -1;
  if (bound && buf[3] == 1) {
    memset(bound, 0, sizeof *bound);
    bound->sin_family = AF_INET;
    memcpy(&bound->sin_addr, buf + 4, 4);
    memcpy(&bound->sin_port, buf + 8, 2);
  }
  return buf[1];
}

// Connects to `dst`, through the proxy when there is one. Returns the socket or -1.
static int Open(const struct sockaddr_in* dst) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const struct sockaddr_in* first = use_proxy ? &proxy_addr : dst;
  if (connect(fd, (const struct sockaddr*)first, sizeof *first) != 0 ||
      (use_proxy && Handshake(fd, 1, dst, NULL) != 0)) {
    close(fd);
    return -1;
  }
  return fd;
}

// ---- stream: one TCP stream of N bytes, up (client -> sink) or down (source -> client) ----

struct StreamTarget {
  int listener;
  int up;
  uint64_t bytes;
  uint64_t moved;
};

static void* RunStreamTarget(void* arg) {
  struct StreamTarget* t = arg;
  int fd = accept(t->listener, NULL, NULL);
  if (fd < 0) Die("accept");
  static uint8_t buf[256 * 1024];
  if (t->up) {  // sink: read to EOF, then close (the client waits for that close)
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) t->moved += (uint64_t)r;
  } else {  // source: write N bytes, then close
    memset(buf, 'x', sizeof buf);
    uint64_t left = t->bytes;
    while (left > 0) {
      size_t n = left < sizeof buf ? (size_t)left : sizeof buf;
      ssize_t w = write(fd, buf, n);
      if (w <= 0) break;
      left -= (uint64_t)w;
      t->moved += (uint64_t)w;
    }
  }
  close(fd);
  return NULL;
}

static int Stream(int up, uint64_t bytes) {
  struct StreamTarget t = {0};
  uint16_t port;
  t.listener = Listen(SOCK_STREAM, &port);
  t.up = up;
  t.bytes = bytes;
  pthread_t thread;
  pthread_create(&thread, NULL, RunStreamTarget, &t);
  struct sockaddr_in dst = Loopback(port);
  int fd = Open(&dst);
  if (fd < 0) Die("open stream");
  static uint8_t buf[256 * 1024];
  memset(buf, 'y', sizeof buf);
  double start = Now();
  uint64_t moved = 0;
  if (up) {
    while (moved < bytes) {
      size_t n = bytes - moved < sizeof buf ? (size_t)(bytes - moved) : sizeof buf;
      ssize_t w = write(fd, buf, n);
      if (w <= 0) Die("stream write");
      moved += (uint64_t)w;
    }
    shutdown(fd, SHUT_WR);
    while (read(fd, buf, sizeof buf) > 0) {
    }  // the sink closes after it has read everything
  } else {
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) moved += (uint64_t)r;
  }
  double seconds = Now() - start;
  close(fd);
  pthread_join(thread, NULL);
  if (t.moved != bytes || moved != bytes) {
    fprintf(stderr, "loadgen: stream moved %llu of %llu bytes (target saw %llu)\n",
            (unsigned long long)moved, (unsigned long long)bytes, (unsigned long long)t.moved);
    return 1;
  }
  printf("bytes=%llu\nseconds=%.6f\n", (unsigned long long)bytes, seconds);
  return 0;
}

// ---- TCP echo server (epoll, one thread) ----

struct EchoServer {
  int listener;
  int close_after_echo;  // sessions: the server closes first (see Sessions)
};

static void* RunEcho(void* arg) {
  const struct EchoServer* server = arg;
  int listener = server->listener;
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener};
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  struct epoll_event events[256];
  uint8_t buf[4096];
  for (;;) {
    int n = epoll_wait(ep, events, 256, -1);
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == listener) {
        int c;
        while ((c = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          int one = 1;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      ssize_t r = read(fd, buf, sizeof buf);
      if (r > 0) {
        if (write(fd, buf, (size_t)r) != r || server->close_after_echo) close(fd);
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        close(fd);  // closing removes it from the epoll set
      }
    }
  }
  return NULL;
}

static void SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) Die("fcntl");
}

// Starts the echo server thread; returns its port.
static uint16_t StartEcho(int close_after_echo) {
  static struct EchoServer server;
  uint16_t port;
  server.listener = Listen(SOCK_STREAM, &port);
  server.close_after_echo = close_after_echo;
  SetNonBlocking(server.listener);
  pthread_t thread;
  pthread_create(&thread, NULL, RunEcho, &server);
  pthread_detach(thread);
  return port;
}

// ---- sessions: connect through the proxy, 1-byte echo, close; C at once, for T seconds ----

enum SessionState { kConnecting, kMethod, kReply, kEchoed, kClosed };

struct Conn {
  int fd;
  enum SessionState state;
  size_t have;
  size_t need;
  uint8_t buf[300];
};

struct SessionRun {
  int ep;
  struct sockaddr_in target;
  uint64_t done;
  uint64_t errors;
};

static int Begin(struct SessionRun* run, struct Conn* c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) return -1;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const struct sockaddr_in* first = use_proxy ? &proxy_addr : &run->target;
  if (connect(c->fd, (const struct sockaddr*)first, sizeof *first) != 0 && errno != EINPROGRESS) {
    close(c->fd);
    return -1;
  }
  c->state = kConnecting;
  c->have = 0;
  struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
  epoll_ctl(run->ep, EPOLL_CTL_ADD, c->fd, &ev);
  return 0;
}

// Sends `bytes` and waits for `need` bytes in `next`. -1 on error.
static int Step(struct SessionRun* run, struct Conn* c, const uint8_t* bytes, size_t n,
                enum SessionState next, size_t need) {
  if (write(c->fd, bytes, n) != (ssize_t)n) return -1;
  c->state = next;
  c->have = 0;
  c->need = need;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  return epoll_ctl(run->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

// Advances one session on an event. Returns 1 when it completed, 0 to continue, -1 on error.
static int Advance(struct SessionRun* run, struct Conn* c) {
  static const uint8_t kGreeting[3] = {5, 1, 0};
  static const uint8_t kByte[1] = {'e'};
  if (c->state == kConnecting) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) return -1;
    return use_proxy ? Step(run, c, kGreeting, 3, kMethod, 2) : Step(run, c, kByte, 1, kEchoed, 1);
  }
  ssize_t r = read(c->fd, c->buf + c->have, c->need - c->have);
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  if (c->state == kClosed) return r == 0 ? 1 : -1;
  if (r <= 0) return -1;
  c->have += (size_t)r;
  if (c->have < c->need) return 0;
  switch (c->state) {
    case kMethod: {
      if (c->buf[0] != 5 || c->buf[1] != 0) return -1;
      uint8_t request[10];
      EncodeRequest(1, &run->target, request);
      return Step(run, c, request, 10, kReply, 5);
    }
    case kReply: {
      size_t total = ReplyLength(c->buf, c->have);
      if (c->have < total) {
        c->need = total;
        return 0;
      }
      if (c->buf[0] != 5 || c->buf[1] != 0) return -1;
      return Step(run, c, kByte, 1, kEchoed, 1);
    }
    case kEchoed:
      if (c->buf[0] != 'e') return -1;
      c->state = kClosed;  // then the server's FIN, passed on by the proxy
      c->have = 0;
      c->need = 1;
      return 0;
    default: return -1;
  }
}

// The server closes first (after its echo), as HTTP/1.0 servers do; the proxy passes the FIN
// on, then the client closes. TIME_WAIT then stays on the listening ports' side: were the client
// to close first, every session would park an ephemeral port in TIME_WAIT on the client and on
// the proxy's upstream side, and a few runs would exhaust the 28k ephemeral ports for the
// whole machine (even bind(port 0) fails then).
static int Sessions(int concurrency, double seconds, long count) {
  struct SessionRun run = {0};
  long started = 0, active = 0;
  run.target = Loopback(StartEcho(1));
  run.ep = epoll_create1(0);
  struct Conn* conns = calloc((size_t)concurrency, sizeof *conns);
  for (int i = 0; i < concurrency && (count == 0 || started < count); i++, started++, active++) {
    if (Begin(&run, &conns[i]) != 0) Die("connect");
  }
  struct epoll_event events[512];
  double start = Now(), end = start + seconds;
  while (Now() < end && (count == 0 || active > 0)) {
    int n = epoll_wait(run.ep, events, 512, 100);
    for (int i = 0; i < n; i++) {
      struct Conn* c = events[i].data.ptr;
      int status = Advance(&run, c);
      if (status == 0) continue;
      if (status > 0) run.done++;
      if (status < 0) run.errors++;
      close(c->fd);
      active--;
      if (count != 0 && started >= count) continue;
      started++;
      if (Begin(&run, c) != 0) {
        run.errors++;
      } else {
        active++;
      }
    }
  }
  double elapsed = Now() - start;
  printf("sessions=%llu\nerrors=%llu\nseconds=%.6f\n", (unsigned long long)run.done,
         (unsigned long long)run.errors, elapsed);
  if (count != 0 && (long)run.done != count) return 1;  // exact N asked: every one must complete
  return run.done > 0 && run.errors * 100 <= run.done ? 0 : 1;
}

// ---- udp: UDP ASSOCIATE datagrams to a UDP echo server ----

static void* RunUdpEcho(void* arg) {
  int fd = *(int*)arg;
  uint8_t buf[65536];
  for (;;) {
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    ssize_t r = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr*)&from, &len);
    if (r >= 0) sendto(fd, buf, (size_t)r, 0, (struct sockaddr*)&from, len);
  }
  return NULL;
}

static int CompareDoubles(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

#define kPayload 64

static int Udp(int inflight, double seconds) {
  static int echo;
  uint16_t echo_port;
  echo = Listen(SOCK_DGRAM, &echo_port);
  pthread_t thread;
  pthread_create(&thread, NULL, RunUdpEcho, &echo);
  pthread_detach(thread);
  struct sockaddr_in echo_addr = Loopback(echo_port);

  uint16_t my_port;
  int fd = Listen(SOCK_DGRAM, &my_port);
  struct sockaddr_in me = Loopback(my_port);
  uint8_t out[10 + kPayload] = {0};
  size_t header = 0;
  struct sockaddr_in peer = echo_addr;
  int control = -1;  // the UDP association lives as long as this TCP connection
  if (use_proxy) {
    control = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {10, 0};
    setsockopt(control, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(control, (struct sockaddr*)&proxy_addr, sizeof proxy_addr) != 0) Die("connect");
    struct sockaddr_in relay = {0};
    int rep = Handshake(control, 3, &me, &relay);
    if (rep == 7) {
      printf("unsupported=1\n");
      return EXIT_UNSUPPORTED;
    }
    if (rep != 0 || relay.sin_family != AF_INET) {
      fprintf(stderr, "loadgen: UDP ASSOCIATE failed (rep %d)\n", rep);
      return 1;
    }
    if (relay.sin_addr.s_addr == htonl(INADDR_ANY)) relay.sin_addr = proxy_addr.sin_addr;
    peer = relay;
    EncodeRequest(0, &echo_addr, out);  // RSV RSV FRAG ATYP ADDR PORT: same layout as a request
    out[0] = out[1] = out[2] = 0;
    header = 10;
  }
  if (connect(fd, (struct sockaddr*)&peer, sizeof peer) != 0) Die("connect udp");
  size_t size = header + kPayload;

  double* rtts = NULL;
  size_t nrtt = 0, cap = 0;
  uint64_t seq = 0, received = 0, lost = 0, sent = 0, got_total = 0;
  uint8_t in[2048];
  const int warmup = 50;
  double start = Now(), end = start + seconds, measured_from = 0;
  if (inflight > 1) {
    for (int i = 0; i < inflight; i++) sent += send(fd, out, size, 0) == (ssize_t)size;
  }
  while (Now() < end) {
    if (inflight == 1) {
      seq++;
      memcpy(out + header, &seq, sizeof seq);
      double t0 = Now();
      sent += send(fd, out, size, 0) == (ssize_t)size;
      for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 1000) <= 0) {
          lost++;
          break;
        }
        ssize_t r = recv(fd, in, sizeof in, 0);
        got_total += r > 0;
        uint64_t got;
        if (r < (ssize_t)(header + sizeof got)) continue;
        memcpy(&got, in + header, sizeof got);
        if (got != seq) continue;  // a late reply to an earlier datagram
        if (seq > (uint64_t)warmup) {
          if (nrtt == cap) {
            cap = cap ? cap * 2 : 65536;
            rtts = realloc(rtts, cap * sizeof *rtts);
          }
          rtts[nrtt++] = (Now() - t0) * 1e6;
        }
        break;
      }
      continue;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 200) <= 0) {  // the window was lost (dropped datagrams): refill it
      lost += (uint64_t)inflight;
      for (int i = 0; i < inflight; i++) sent += send(fd, out, size, 0) == (ssize_t)size;
      continue;
    }
    ssize_t r;
    while ((r = recv(fd, in, sizeof in, MSG_DONTWAIT)) > 0) {
      got_total++;
      if (r == (ssize_t)size) {
        received++;
        if (received == (uint64_t)warmup) measured_from = Now();
      }
      sent += send(fd, out, size, 0) == (ssize_t)size;
    }
  }
  double elapsed = Now() - start;
  if (inflight == 1) {
    if (nrtt == 0) {
      fprintf(stderr, "loadgen: no UDP replies\n");
      return 1;
    }
    qsort(rtts, nrtt, sizeof *rtts, CompareDoubles);
    printf("sent=%llu\nreceived=%llu\n", (unsigned long long)sent, (unsigned long long)got_total);
    printf("datagrams=%zu\nlost=%llu\nseconds=%.6f\np50_us=%.2f\np99_us=%.2f\n", nrtt,
           (unsigned long long)lost, elapsed, rtts[nrtt / 2], rtts[nrtt * 99 / 100]);
  } else {
    if (received <= (uint64_t)warmup) {
      fprintf(stderr, "loadgen: too few UDP replies (%llu)\n", (unsigned long long)received);
      return 1;
    }
    printf("sent=%llu\nreceived=%llu\n", (unsigned long long)sent, (unsigned long long)got_total);
    printf("datagrams=%llu\nlost=%llu\nseconds=%.6f\n",
           (unsigned long long)(received - (uint64_t)warmup), (unsigned long long)lost,
           Now() - measured_from);
  }
  if (control >= 0) close(control);
  return 0;
}

// ---- echo / hold: many idle relayed sessions ----

static void WaitStdinEof(void) {
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {
  }
}

static int Hold(uint16_t target_port, int count, double seconds) {
  struct sockaddr_in target = Loopback(target_port);
  int held = 0, failures_in_a_row = 0;
  double deadline = Now() + seconds;
  for (int i = 0; i < count && failures_in_a_row < 20 && Now() < deadline; i++) {
    int fd = Open(&target);
    uint8_t byte = 'h';
    if (fd >= 0 && WriteFull(fd, &byte, 1) == 0 && ReadFull(fd, &byte, 1) == 0 && byte == 'h') {
      held++;  // kept open (idle) until stdin closes
      failures_in_a_row = 0;
    } else {
      if (fd >= 0) close(fd);
      failures_in_a_row++;
    }
  }
  printf("held=%d\n", held);
  fflush(stdout);
  WaitStdinEof();
  // Tear down with resets (SO_LINGER 0): thousands of TIME_WAIT sockets left behind would slow
  // every later connect() on the machine and skew the next measurements.
  struct linger reset = {1, 0};
  struct rlimit limit;
  getrlimit(RLIMIT_NOFILE, &limit);
  for (int fd = 3; fd < (int)limit.rlim_cur; fd++) {
    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset) == 0) close(fd);
  }
  return 0;
}

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  struct rlimit limit;  // the hold and echo modes keep thousands of sockets
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  if (argc < 2) {
    fprintf(stderr, "usage: see the comment at the top of loadgen.c\n");
    return 2;
  }
  const char* mode = argv[1];
  const char* dir = "up";
  uint64_t bytes = 1 << 30;
  int concurrency = 16, inflight = 1, count = 1, target = 0;
  long session_count = 0;
  double seconds = 3;
  for (int i = 2; i + 1 < argc; i += 2) {
    const char* k = argv[i];
    const char* v = argv[i + 1];
    if (!strcmp(k, "--proxy")) {
      use_proxy = strcmp(v, "direct") != 0;
      if (use_proxy) ParseHostPort(v, &proxy_addr);
    } else if (!strcmp(k, "--dir")) {
      dir = v;
    } else if (!strcmp(k, "--bytes")) {
      bytes = strtoull(v, NULL, 10);
    } else if (!strcmp(k, "--concurrency")) {
      concurrency = atoi(v);
    } else if (!strcmp(k, "--seconds")) {
      seconds = atof(v);
    } else if (!strcmp(k, "--inflight")) {
      inflight = atoi(v);
    } else if (!strcmp(k, "--count")) {
      count = atoi(v);
      session_count = atol(v);
    } else if (!strcmp(k, "--target")) {
      target = atoi(v);
    } else {
      fprintf(stderr, "loadgen: unknown option %s\n", k);
      return 2;
    }
  }
  if (!strcmp(mode, "stream")) return Stream(!strcmp(dir, "up"), bytes);
  if (!strcmp(mode, "sessions")) return Sessions(concurrency, seconds, session_count);
  if (!strcmp(mode, "udp")) return Udp(inflight, seconds);
  if (!strcmp(mode, "hold")) return Hold((uint16_t)target, count, seconds);
  if (!strcmp(mode, "echo")) {
    printf("port=%d\n", StartEcho(0));
    fflush(stdout);
    WaitStdinEof();
    return 0;
  }
  fprintf(stderr, "loadgen: unknown mode %s\n", mode);
  return 2;
}

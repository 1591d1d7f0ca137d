/*
 * The guest's workload for examples/qemu, linked static into the initramfs.
 *
 *   ferry-guest kv PORT                  a key-value service over TCP (one line per request):
 *                                        "SET key value" -> "OK", "GET key" -> "VALUE value" or "NONE",
 *                                        "PING" -> "PONG"
 *   ferry-guest dirty HOT_MIB PAGES_PER_SEC
 *                                        writes random pages of a hot set at a set rate, checks the
 *                                        whole set against what it wrote, and prints on the console
 *                                        "HB <seq> <writes> <checked> <bad>" every 10 ms
 *
 * The dirtier's check is what proves a migration lost no page: each write stamps 8 words spread
 * over the page with a value derived from (page, generation), and the generation table lives in
 * guest memory too, so a page the migration missed reads back with a stamp that does not match.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define STAMPS 8

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* splitmix64: the stamp of word i of page p at generation g, and the random page picker. */
static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
static uint64_t stamp(uint64_t page, uint64_t gen, uint64_t word) { return mix((page << 40) ^ (gen << 8) ^ word); }

static int dirty(size_t hot_mib, uint64_t pages_per_sec) {
  size_t pages = hot_mib * 1024 * 1024 / PAGE;
  /* A hot set of 0 MiB is an idle guest: heartbeats only. */
  uint8_t *mem = pages ? mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0) : NULL;
  uint32_t *gen = calloc(pages + 1, sizeof *gen);
  if (mem == MAP_FAILED || !gen) {
    printf("DIRTY-ERROR cannot allocate %zu MiB\n", hot_mib);
    return 1;
  }
  for (size_t p = 0; p < pages; p++)
    for (int w = 0; w < STAMPS; w++) ((uint64_t *)(mem + p * PAGE))[w * (PAGE / 8 / STAMPS)] = stamp(p, 0, w);
  printf("DIRTY-READY pages=%zu rate=%llu\n", pages, (unsigned long long)pages_per_sec);
  fflush(stdout);
  uint64_t rng = now_ns(), start = now_ns(), next_beat = start, writes = 0, checked = 0, bad = 0, seq = 0;
  size_t check_at = 0;
  for (;;) {
    uint64_t t = now_ns();
    /* Writes due by now at the set rate; catching up is capped so a long pause is not replayed. */
    uint64_t due = (t - start) * pages_per_sec / 1000000000ull;
    if (due > writes + pages_per_sec / 10) writes = due - pages_per_sec / 10;
    for (; writes < due; writes++) {
      size_t p = mix(rng++) % pages;
      uint32_t g = ++gen[p];
      uint64_t *words = (uint64_t *)(mem + p * PAGE);
      for (int w = 0; w < STAMPS; w++) words[w * (PAGE / 8 / STAMPS)] = stamp(p, g, w);
    }
    /* Check a slice of the hot set each millisecond: the whole set every ~second at 256 MiB. */
    for (size_t n = 0; n < 64 && pages; n++, check_at = (check_at + 1) % pages) {
      uint64_t *words = (uint64_t *)(mem + check_at * PAGE);
      for (int w = 0; w < STAMPS; w++)
        if (words[w * (PAGE / 8 / STAMPS)] != stamp(check_at, gen[check_at], w)) {
          bad++;
          printf("CORRUPT page=%zu gen=%u\n", check_at, gen[check_at]);
          /* Rewrite it so one bad page is counted once. */
          for (int v = 0; v < STAMPS; v++) words[v * (PAGE / 8 / STAMPS)] = stamp(check_at, gen[check_at], v);
          break;
        }
      checked++;
    }
    if (t >= next_beat) {
      printf("HB %llu %llu %llu %llu\n", (unsigned long long)seq++, (unsigned long long)writes,
             (unsigned long long)checked, (unsigned long long)bad);
      fflush(stdout);
      next_beat = t + 10000000ull;
    }
    struct timespec nap = {0, 1000000};
    nanosleep(&nap, NULL);
  }
}

#define KEYS 1024
static char keys[KEYS][64], values[KEYS][256];

static void answer(int fd, char *line) {
  char out[320];
  if (strncmp(line, "SET ", 4) == 0) {
    char *key = line + 4, *value = strchr(key, ' ');
    if (!value || value - key >= 64 || strlen(value + 1) >= 256) {
      snprintf(out, sizeof out, "ERR bad SET\n");
    } else {
      *value++ = 0;
      int slot = -1;
      for (int i = 0; i < KEYS && slot < 0; i++)
        if (keys[i][0] == 0 || strcmp(keys[i], key) == 0) slot = i;
      if (slot < 0) snprintf(out, sizeof out, "ERR full\n");
      else {
        strcpy(keys[slot], key);
        strcpy(values[slot], value);
        snprintf(out, sizeof out, "OK\n");
      }
    }
  } else if (strncmp(line, "GET ", 4) == 0) {
    snprintf(out, sizeof out, "NONE\n");
    for (int i = 0; i < KEYS; i++)
      if (keys[i][0] && strcmp(keys[i], line + 4) == 0) snprintf(out, sizeof out, "VALUE %s\n", values[i]);
  } else if (strcmp(line, "PING") == 0) {
    snprintf(out, sizeof out, "PONG\n");
  } else {
    snprintf(out, sizeof out, "ERR unknown\n");
  }
  (void)!write(fd, out, strlen(out));
}

#define CONNS 32
static int kv(int port) {
  int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = INADDR_ANY};
  if (bind(ls, (struct sockaddr *)&addr, sizeof addr) || listen(ls, 16)) {
    printf("KV-ERROR %s\n", strerror(errno));
    return 1;
  }
  printf("KV-READY port=%d\n", port);
  fflush(stdout);
  struct pollfd fds[CONNS + 1];
  static char buf[CONNS + 1][1024];
  size_t len[CONNS + 1] = {0};
  int n = 1;
  fds[0] = (struct pollfd){.fd = ls, .events = POLLIN};
  for (;;) {
    if (poll(fds, n, -1) < 0) continue;
    if ((fds[0].revents & POLLIN) && n <= CONNS) {
      int c = accept(ls, NULL, NULL);
      if (c >= 0) {
        setsockopt(c, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof one);
        len[n] = 0;
        fds[n++] = (struct pollfd){.fd = c, .events = POLLIN};
      }
    }
    for (int i = 1; i < n; i++) {
      if (!fds[i].revents) continue;
      ssize_t got = read(fds[i].fd, buf[i] + len[i], sizeof buf[i] - 1 - len[i]);
      if (got <= 0) {
        close(fds[i].fd);
        fds[i] = fds[n - 1];
        len[i] = len[n - 1];
        memcpy(buf[i], buf[n - 1], len[i]);
        n--;
        i--;
        continue;
      }
      len[i] += got;
      char *start = buf[i], *nl;
      while ((nl = memchr(start, '\n', len[i] - (start - buf[i])))) {
        *nl = 0;
        if (nl > start && nl[-1] == '\r') nl[-1] = 0;
        answer(fds[i].fd, start);
        start = nl + 1;
      }
      len[i] -= start - buf[i];
      memmove(buf[i], start, len[i]);
      if (len[i] == sizeof buf[i] - 1) len[i] = 0; /* an over-long line is dropped */
    }
  }
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 3 && strcmp(argv[1], "kv") == 0) return kv(atoi(argv[2]));
  if (argc == 4 && strcmp(argv[1], "dirty") == 0) return dirty(strtoull(argv[2], 0, 10), strtoull(argv[3], 0, 10));
  fprintf(stderr, "usage: ferry-guest kv PORT | ferry-guest dirty HOT_MIB PAGES_PER_SEC\n");
  return 2;
}

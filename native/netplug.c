// berth-netplug: plugs a container into berth's bridge networks with netlink calls, one process
// instead of the shell hook's sh + nsenter + ip runs (src/runtime/network/attach.ts keeps that
// hook as the fallback where this binary was not built).
//
//   berth-netplug IFNAME NETNS PEER ADDR/PREFIX GATEWAY|- [IFNAME NETNS PEER ADDR/PREFIX GATEWAY|-]…
//
// The container's init pid comes on stdin in the OCI state JSON ("pid":N), as runc hands it to a
// createRuntime hook (berth writes {"pid":N} itself to plug a running container). For each
// group: a veth pair IFNAME (in the container's namespace) / PEER (made straight in the
// network's namespace, the file NETNS), the address on IFNAME, IFNAME up, a default route via
// GATEWAY unless "-", then PEER onto the network's br0, up. No link or address ever exists in
// the namespace this process starts in (the host's).
//
// A netlink socket stays bound to the namespace it was opened in: one socket per network's
// namespace is opened first (with br0's index), then this process joins the container's.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_NETWORKS 64

struct request {
  struct nlmsghdr hdr;
  char body[1024];
};

struct plug {
  const char* ifname;
  const char* netns;
  const char* peer;
  struct in_addr addr;
  int prefix;
  struct in_addr gateway;
  int has_gateway;
  int netns_fd;
  int network_sock;
  int bridge_index;
};

static void die(const char* what, const char* name, int err) {
  fprintf(stderr, "berth-netplug: %s %s: %s\n", what, name, strerror(err));
  exit(1);
}

static struct rtattr* add_attr(struct nlmsghdr* h, unsigned short type, const void* data, size_t len) {
  struct rtattr* rta = (struct rtattr*)((char*)h + NLMSG_ALIGN(h->nlmsg_len));
  rta->rta_type = type;
  rta->rta_len = RTA_LENGTH(len);
  if (len > 0) memcpy(RTA_DATA(rta), data, len);
  h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(rta->rta_len);
  return rta;
}

static struct rtattr* nest_begin(struct nlmsghdr* h, unsigned short type) { return add_attr(h, type, NULL, 0); }

static void nest_end(struct nlmsghdr* h, struct rtattr* nest) { nest->rta_len = (unsigned short)((char*)h + h->nlmsg_len - (char*)nest); }

static int netlink_socket(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) die("opening", "a netlink socket", errno);
  return fd;
}

/** Send one request and wait for its acknowledgement: 0, or the kernel's errno. */
static int talk(int sock, struct nlmsghdr* h) {
  static unsigned seq = 0;
  h->nlmsg_seq = ++seq;
  h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(sock, h, h->nlmsg_len, 0, (struct sockaddr*)&kernel, sizeof kernel) < 0) return errno;
  char buf[8192];
  for (;;) {
    ssize_t n = recv(sock, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    for (struct nlmsghdr* r = (struct nlmsghdr*)buf; NLMSG_OK(r, (unsigned)n); r = NLMSG_NEXT(r, n)) {
      if (r->nlmsg_seq != h->nlmsg_seq || r->nlmsg_type != NLMSG_ERROR) continue;
      struct nlmsgerr* e = (struct nlmsgerr*)NLMSG_DATA(r);
      return -e->error;
    }
  }
}

static struct nlmsghdr* begin(struct request* req, unsigned short type, unsigned short flags, size_t header) {
  memset(req, 0, sizeof *req);
  req->hdr.nlmsg_len = NLMSG_LENGTH(header);
  req->hdr.nlmsg_type = type;
  req->hdr.nlmsg_flags = flags;
  return &req->hdr;
}

static int link_index(const char* name) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  int r = ioctl(fd, SIOCGIFINDEX, &ifr);
  close(fd);
  return r < 0 ? 0 : ifr.ifr_ifindex;
}

static int make_veth(int sock, const struct plug* p) {
  struct request req;
  struct nlmsghdr* h = begin(&req, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(struct ifinfomsg));
  ((struct ifinfomsg*)NLMSG_DATA(h))->ifi_family = AF_UNSPEC;
  add_attr(h, IFLA_IFNAME, p->ifname, strlen(p->ifname) + 1);
  struct rtattr* info = nest_begin(h, IFLA_LINKINFO);
  add_attr(h, IFLA_INFO_KIND, "veth", 4);
  struct rtattr* data = nest_begin(h, IFLA_INFO_DATA);
  struct rtattr* peer = nest_begin(h, VETH_INFO_PEER);
  // the peer's own ifinfomsg, then its attributes
  h->nlmsg_len += NLMSG_ALIGN(sizeof(struct ifinfomsg));
  add_attr(h, IFLA_IFNAME, p->peer, strlen(p->peer) + 1);
  unsigned fd = (unsigned)p->netns_fd;
  add_attr(h, IFLA_NET_NS_FD, &fd, sizeof fd);
  nest_end(h, peer);
  nest_end(h, data);
  nest_end(h, info);
  return talk(sock, h);
}

static int add_address(int sock, int index, const struct plug* p) {
  struct request req;
  struct nlmsghdr* h = begin(&req, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof(struct ifaddrmsg));
  struct ifaddrmsg* a = NLMSG_DATA(h);
  a->ifa_family = AF_INET;
  a->ifa_prefixlen = (unsigned char)p->prefix;
  a->ifa_scope = RT_SCOPE_UNIVERSE;
  a->ifa_index = (unsigned)index;
  add_attr(h, IFA_LOCAL, &p->addr, 4);
  add_attr(h, IFA_ADDRESS, &p->addr, 4);
  return talk(sock, h);
}

/** Set a link up (by index, or by name when index is 0), and onto a master when master > 0. */
static int link_up(int sock, int index, const char* name, int master) {
  struct request req;
  struct nlmsghdr* h = begin(&req, RTM_NEWLINK, 0, sizeof(struct ifinfomsg));
  struct ifinfomsg* i = NLMSG_DATA(h);
  i->ifi_family = AF_UNSPEC;
  i->ifi_index = index;
  i->ifi_flags = IFF_UP;
  i->ifi_change = IFF_UP;
  if (index == 0) add_attr(h, IFLA_IFNAME, name, strlen(name) + 1);
  if (master > 0) {
    unsigned m = (unsigned)master;
    add_attr(h, IFLA_MASTER, &m, sizeof m);
  }
  return talk(sock, h);
}

static int default_route(int sock, int index, struct in_addr gateway) {
  struct request req;
  struct nlmsghdr* h = begin(&req, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, sizeof(struct rtmsg));
  struct rtmsg* r = NLMSG_DATA(h);
  r->rtm_family = AF_INET;
  r->rtm_table = RT_TABLE_MAIN;
  r->rtm_protocol = RTPROT_BOOT;
  r->rtm_scope = RT_SCOPE_UNIVERSE;
  r->rtm_type = RTN_UNICAST;
  add_attr(h, RTA_GATEWAY, &gateway, 4);
  unsigned oif = (unsigned)index;
  add_attr(h, RTA_OIF, &oif, sizeof oif);
  return talk(sock, h);
}

static int delete_link(int sock, int index) {
  struct request req;
  struct nlmsghdr* h = begin(&req, RTM_DELLINK, 0, sizeof(struct ifinfomsg));
  ((struct ifinfomsg*)NLMSG_DATA(h))->ifi_index = index;
  return talk(sock, h);
}

static void parse_plug(char** argv, struct plug* p) {
  p->ifname = argv[0];
  p->netns = argv[1];
  p->peer = argv[2];
  if (strlen(p->ifname) >= IFNAMSIZ || strlen(p->peer) >= IFNAMSIZ) die("interface name too long:", p->ifname, EINVAL);
  char addr[64];
  const char* slash = strchr(argv[3], '/');
  if (slash == NULL || (size_t)(slash - argv[3]) >= sizeof addr) die("bad address", argv[3], EINVAL);
  memcpy(addr, argv[3], (size_t)(slash - argv[3]));
  addr[slash - argv[3]] = '\0';
  p->prefix = atoi(slash + 1);
  if (inet_pton(AF_INET, addr, &p->addr) != 1 || p->prefix < 1 || p->prefix > 32) die("bad address", argv[3], EINVAL);
  p->has_gateway = strcmp(argv[4], "-") != 0;
  if (p->has_gateway && inet_pton(AF_INET, argv[4], &p->gateway) != 1) die("bad gateway", argv[4], EINVAL);
}

/** The init pid from the OCI state on stdin. */
static int read_pid(void) {
  char buf[65536];
  size_t len = 0;
  for (;;) {
    ssize_t n = read(0, buf + len, sizeof buf - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
    if (len == sizeof buf - 1) break;
  }
  buf[len] = '\0';
  const char* at = strstr(buf, "\"pid\":");
  if (at == NULL) return 0;
  return atoi(at + 6);
}

static void pause_ms(long ms) {
  struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

int main(int argc, char** argv) {
  if (argc < 6 || (argc - 1) % 5 != 0) {
    fprintf(stderr, "usage: berth-netplug IFNAME NETNS PEER ADDR/PREFIX GATEWAY|- [...] (the container's pid on stdin)\n");
    return 2;
  }
  int count = (argc - 1) / 5;
  if (count > MAX_NETWORKS) die("too many networks:", argv[0], E2BIG);
  struct plug plugs[MAX_NETWORKS];
  memset(plugs, 0, sizeof plugs);
  for (int i = 0; i < count; i++) parse_plug(argv + 1 + i * 5, &plugs[i]);
  int pid = read_pid();
  if (pid <= 0) die("reading the container's pid from", "stdin", EINVAL);
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/net", pid);
  int container_ns = open(path, O_RDONLY | O_CLOEXEC);
  if (container_ns < 0) die("opening", path, errno);

  for (int i = 0; i < count; i++) {
    struct plug* p = &plugs[i];
    p->netns_fd = open(p->netns, O_RDONLY | O_CLOEXEC);
    if (p->netns_fd < 0) die("opening", p->netns, errno);
    if (setns(p->netns_fd, CLONE_NEWNET) < 0) die("joining", p->netns, errno);
    p->network_sock = netlink_socket();
    p->bridge_index = link_index("br0");
    if (p->bridge_index == 0) die("finding br0 in", p->netns, ENODEV);
  }
  if (setns(container_ns, CLONE_NEWNET) < 0) die("joining", path, errno);
  int sock = netlink_socket();

  for (int i = 0; i < count; i++) {
    struct plug* p = &plugs[i];
    if (link_index(p->ifname) > 0) die("the container already has", p->ifname, EEXIST);
    int err = make_veth(sock, p);
    // the peer's name is the container's: a previous run's pair may still be on its way out
    // (a namespace's links go in the kernel's own time after its last process exits)
    for (int tries = 0; (err == EEXIST || err == EBUSY || err == EINVAL) && tries < 20; tries++) {
      int partial = link_index(p->ifname);
      if (partial > 0) delete_link(sock, partial);
      pause_ms(50);
      err = make_veth(sock, p);
    }
    if (err != 0) die("creating the veth pair", p->ifname, err);
    int index = link_index(p->ifname);
    if (index == 0) die("finding", p->ifname, ENODEV);
    if ((err = add_address(sock, index, p)) != 0) die("adding the address to", p->ifname, err);
    if ((err = link_up(sock, index, NULL, 0)) != 0) die("setting up", p->ifname, err);
    if (p->has_gateway && (err = default_route(sock, index, p->gateway)) != 0) die("adding the default route via", p->ifname, err);
    if ((err = link_up(p->network_sock, 0, p->peer, p->bridge_index)) != 0) die("putting onto br0:", p->peer, err);
  }
  return 0;
}

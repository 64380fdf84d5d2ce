/* A simulated slower disk for bench/appends.py --fsync-delay-us: an LD_PRELOAD shim that sleeps
 * BENCH_FSYNC_DELAY_US microseconds after every fsync()/fdatasync(), so the group-commit ratio
 * can be seen on a disk whose flush costs what a typical SSD's or network volume's does.
 * Built by appends.py with: cc -O2 -shared -fPIC -o slow_fsync.so slow_fsync.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

static useconds_t delay_us(void) {
    const char *text = getenv("BENCH_FSYNC_DELAY_US");
    return text ? (useconds_t)strtoul(text, NULL, 10) : 0;
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    int result = real(fd);
    usleep(delay_us());
    return result;
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    int result = real(fd);
    usleep(delay_us());
    return result;
}

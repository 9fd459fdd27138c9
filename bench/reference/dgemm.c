/*
 * Bench-only reference: how fast does OpenBLAS multiply-add float64 on this machine?
 * The kernel benchmark compares the ring (Z_2^64) matmul against this number, because dgemm
 * is the best-tuned dense kernel on a CPU and a 64-bit integer MAC costs at least as much.
 *
 * Usage: dgemm [n] [runs]      (defaults 1024, 10)
 * Prints one JSON line: {"n":..,"threads":..,"core":"..","best_ms":..,"median_ms":..,"gmacs":..}
 * gmacs = n^3 multiply-adds / best seconds / 1e9 (half the usual "GFLOPS").
 *
 * Never used by the library, its tests or CI. Build: cc -O2 dgemm.c -o dgemm -lopenblas
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* OpenBLAS extensions; declared here so any cblas.h works (identical redeclaration is legal). */
extern char *openblas_get_corename(void);
extern int openblas_get_num_threads(void);

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1024;
  int runs = argc > 2 ? atoi(argv[2]) : 10;
  if (n <= 0 || runs <= 0 || runs > 1000) {
    fprintf(stderr, "usage: dgemm [n>0] [runs 1..1000]\n");
    return 2;
  }
  size_t nn = (size_t)n * (size_t)n;
  /* 64-byte alignment so no run is penalised by a split first cache line. */
  double *a = aligned_alloc(64, nn * sizeof(double));
  double *b = aligned_alloc(64, nn * sizeof(double));
  double *c = aligned_alloc(64, nn * sizeof(double));
  double *t = malloc((size_t)runs * sizeof(double));
  if (!a || !b || !c || !t) {
    fprintf(stderr, "dgemm: out of memory\n");
    return 1;
  }
  /* Values in [-1, 1): the rate does not depend on them, but NaN/denormal inputs could. */
  srand(12345);
  for (size_t i = 0; i < nn; i++) {
    a[i] = 2.0 * rand() / ((double)RAND_MAX + 1.0) - 1.0;
    b[i] = 2.0 * rand() / ((double)RAND_MAX + 1.0) - 1.0;
    c[i] = 0.0;
  }
  /* Warm-up: starts OpenBLAS's thread pool and faults in every page before timing. */
  for (int w = 0; w < 2; w++)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a, n, b, n, 0.0, c, n);
  for (int r = 0; r < runs; r++) {
    double t0 = now_s();
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a, n, b, n, 0.0, c, n);
    t[r] = now_s() - t0;
  }
  qsort(t, (size_t)runs, sizeof(double), cmp_double);
  double best = t[0], median = t[runs / 2];
  double macs = (double)n * (double)n * (double)n;
  /* Printing c[0] keeps the compiler from treating the result as dead. */
  printf("{\"n\":%d,\"runs\":%d,\"threads\":%d,\"core\":\"%s\",\"best_ms\":%.4f,\"median_ms\":%.4f,"
         "\"gmacs\":%.3f,\"check\":%.6g}\n",
         n, runs, openblas_get_num_threads(), openblas_get_corename(), best * 1e3, median * 1e3,
         macs / best / 1e9, c[0]);
  free(a);
  free(b);
  free(c);
  free(t);
  return 0;
}

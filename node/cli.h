/*
 * Shared plumbing for the xiezhi command-line tool: how commands are
 * declared, how they report errors, and how they find the node directory.
 *
 * Conventions every command follows:
 *   - exit 0 on success, 1 when the work failed or was refused, 2 when the
 *     command line itself is wrong (unknown flag, missing value);
 *   - errors go to stderr as one line "xiezhi: <what failed>: <why>" followed,
 *     where it helps, by what the user can do about it;
 *   - results go to stdout; --json, where offered, prints one JSON document.
 */
#ifndef XZ_CLI_H
#define XZ_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define XZ_EXIT_OK	0
#define XZ_EXIT_FAIL	1
#define XZ_EXIT_USAGE	2

/* A top-level command ("init", "dataset", ...).  argv[0] is its name. */
struct xz_cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

/* Prints "xiezhi: " + message + newline to stderr. */
void xz_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same, then "Run 'xiezhi <cmd> --help' for usage."; returns XZ_EXIT_USAGE. */
int xz_cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The node directory: the --dir value when given, else $XIEZHI_DIR.
 * Returns NULL (after printing what to do) when neither is set.
 */
const char *xz_cli_node_dir(const char *dir_opt);

/*
 * Opens the node at --dir/XIEZHI_DIR; on failure prints "xiezhi: CMD: why"
 * and returns the exit code (XZ_EXIT_OK when *node is open).
 */
struct xz_node;
int xz_cli_open_node(const char *dir_opt, const char *cmd, struct xz_node **node);

/*
 * Strict unsigned decimal parse of the whole string into [min, max].
 * Returns 0, or -1 for empty input, signs, junk, or out of range.
 */
int xz_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* The CPU model from /proc/cpuinfo, for benchmark reports. */
void xz_cli_cpu_model(char *out, size_t cap);

/* The local operator, as audit records name them: "local:LOGIN". */
const char *xz_cli_actor(void);

/* True when stderr is a terminal (progress bars are drawn only then). */
int xz_cli_interactive(void);

/* Writes s then spaces up to width terminal columns (CJK counts 2). */
void xz_cli_pad(FILE *f, const char *s, int width);

/* Writes s as a JSON string literal (with quotes) to f. */
void xz_json_string(FILE *f, const char *s);

/* Command entry points, one per node/cli_*.c file. */
int xz_cmd_init(int argc, char **argv);
int xz_cmd_dataset(int argc, char **argv);
int xz_cmd_store(int argc, char **argv);
int xz_cmd_sample(int argc, char **argv);
int xz_cmd_crypto(int argc, char **argv);
int xz_cmd_bench(int argc, char **argv);
int xz_cmd_audit(int argc, char **argv);
int xz_cmd_keygen(int argc, char **argv);
int xz_cmd_policy(int argc, char **argv);
int xz_cmd_request(int argc, char **argv);
int xz_cmd_config(int argc, char **argv);
int xz_cmd_join(int argc, char **argv);
int xz_cmd_leads(int argc, char **argv);
int xz_cmd_model(int argc, char **argv);
/* 'xiezhi bench import' (node/bench_import.c), dispatched by 'xiezhi bench'. */
int xz_bench_import(int argc, char **argv);

/* Writes all len bytes of buf to fd (retrying short writes and EINTR);
 * 0, or -1 with errno set. */
int xz_cli_write_all(int fd, const char *buf, size_t len);

#endif

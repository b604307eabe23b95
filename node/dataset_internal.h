/* Internals shared by node/dataset.c (catalogue) and node/import.c. */
#ifndef XZ_DATASET_INTERNAL_H
#define XZ_DATASET_INTERNAL_H

#include "dataset.h"

struct xz_dataset_row {
	int found;
	int64_t id;
	char table[64];
	char key_column[XZ_COLUMN_NAME_MAX];
	char key_type[16];
};

/* Looks name up in the catalogue; ex->found = 0 when there is none. */
int xz_dataset_lookup(struct xz_node *node, const char *name,
    struct xz_dataset_row *ex, struct xz_diag *d);

#endif

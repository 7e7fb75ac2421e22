/* Shared helper for the vector tests: load tests/vectors/NAME with json-c.
 * The tests run from the repository root (tests/run-all.sh does that). */
#ifndef TEST_VECTORS_H
#define TEST_VECTORS_H

#include <stdio.h>
#include <stdlib.h>

#include <json-c/json.h>

/* The parsed file; the caller json_object_put()s it. Aborts if missing,
 * so a test can never pass by finding no vectors. */
static struct json_object *
load_vectors(const char *name)
{
	char path[256];
	struct json_object *root;

	(void)snprintf(path, sizeof(path), "tests/vectors/%s", name);
	root = json_object_from_file(path);
	if (root == NULL) {
		fprintf(stderr, "cannot read %s (run from the repo root)\n",
		    path);
		abort();
	}
	return root;
}

/* root's "vectors" array, which must hold at least min entries; *n gets
 * its length. Borrowed from root. */
static struct json_object *
vectors_list(struct json_object *root, size_t min, size_t *n)
{
	struct json_object *vectors;

	assert_true(json_object_object_get_ex(root, "vectors", &vectors));
	*n = json_object_array_length(vectors);
	assert_true(*n >= min);
	return vectors;
}

/* Member as string, or NULL if absent / null. Borrowed. */
static const char *
member_str(struct json_object *o, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v) ||
	    json_object_is_type(v, json_type_null))
		return NULL;
	return json_object_get_string(v);
}

#endif

/* support_json.c: reading `handoff status --json` in tests. */
#include "autoconf.h"

#include <stdarg.h>
#include <stdlib.h>

#include "support_json.h"

/*
 * The member at a path of keys and array indexes ("programs", "0", ...,
 * then NULL), or NULL if there is none.
 */
json_object *
support_json_at(json_object *obj, ...)
{
	const char *key;
	va_list ap;

	va_start(ap, obj);
	while (obj != NULL && (key = va_arg(ap, const char *)) != NULL) {
		if (json_object_is_type(obj, json_type_array)) {
			size_t idx = (size_t)strtoul(key, NULL, 10);
			obj = idx < json_object_array_length(obj) ?
			    json_object_array_get_idx(obj, idx) : NULL;
		} else if (!json_object_is_type(obj, json_type_object) ||
		    !json_object_object_get_ex(obj, key, &obj))
			obj = NULL;
	}
	va_end(ap);
	return obj;
}

/* A string member, or "" if it is missing or not a string. */
const char *
support_json_str(json_object *obj)
{
	return obj != NULL && json_object_is_type(obj, json_type_string) ?
	    json_object_get_string(obj) : "";
}

/* An integer member, or -1 if it is missing or not an integer. */
int64_t
support_json_int(json_object *obj)
{
	return obj != NULL && json_object_is_type(obj, json_type_int) ?
	    json_object_get_int64(obj) : -1;
}

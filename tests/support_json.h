/* support_json.h: reading `handoff status --json` in tests (json-c). */
#ifndef HANDOFF_TEST_SUPPORT_JSON_H
#define HANDOFF_TEST_SUPPORT_JSON_H

#include <json.h>
#include <stdint.h>

json_object	*support_json_at(json_object *obj, ...);
const char	*support_json_str(json_object *obj);
int64_t		 support_json_int(json_object *obj);

#endif

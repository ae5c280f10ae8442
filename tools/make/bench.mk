# SPDX-License-Identifier: MIT
# make bench: its live worker (tools/bench-worker.c) and its HTTP load
# (tools/bench-http.c), built beside the rest.
_bench: $(BUILD)/tools/bench-worker $(BUILD)/tools/bench-http

$(BUILD)/tools/bench-http: tools/bench-http.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< -lpthread

# Compiled and linked in one step; its header dependencies come from the
# compiler as the objects' do ($(BUILD)/tools/bench-worker.d).
$(BUILD)/tools/bench-worker: tools/bench-worker.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

-include $(wildcard $(BUILD)/tools/bench-worker.d)

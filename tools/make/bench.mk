# make bench: its live worker (tools/bench-worker.c) and its HTTP load
# (tools/bench-http.c), built beside the rest.
_bench: $(BUILD)/tools/bench-worker $(BUILD)/tools/bench-http

$(BUILD)/tools/bench-http: tools/bench-http.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< -lpthread

$(BUILD)/tools/bench-worker: tools/bench-worker.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -o $@ $< $(LDLIBS)

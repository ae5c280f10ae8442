# make bench: its live worker (tools/bench-worker.c), built beside the rest.
_bench: $(BUILD)/tools/bench-worker

$(BUILD)/tools/bench-worker: tools/bench-worker.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -o $@ $< $(LDLIBS)

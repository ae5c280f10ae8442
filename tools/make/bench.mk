# make bench: its live worker (tools/bench-worker.c), built beside the rest.
_bench: $(BUILD)/tools/bench-worker

# Compiled and linked in one step; its header dependencies come from the
# compiler as the objects' do ($(BUILD)/tools/bench-worker.d).
$(BUILD)/tools/bench-worker: tools/bench-worker.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

-include $(wildcard $(BUILD)/tools/bench-worker.d)

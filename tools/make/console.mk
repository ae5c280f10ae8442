# SPDX-License-Identifier: MIT
# The console page (core/service/ui/), compiled into the binary, and its
# browser test: headless Chromium against a real service (tests/browser/).

UI_FILES  = core/service/ui/index.html core/service/ui/app.css core/service/ui/app.js

$(BUILD)/gen/console_files.c: $(UI_FILES) tools/embed-ui
	@mkdir -p $(@D)
	tools/embed-ui $@ $(UI_FILES)

# (console_files is in the Makefile's CORE_GEN.)
$(BUILD)/obj/gen/console_files.o: $(BUILD)/gen/console_files.c core/service/console.h core/service/http.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -c -o $@ $<

# make test: load the page in headless Chromium, read the state, open a run,
# press "Dry run", and check the token prompt; a screenshot goes to $(BUILD)/.
# Then the runs as an operator reads them: a link per run, dates before today,
# every step's figures (a third-party step's too), each run's notifications.
TEST_STAGES += browser
_test-browser: _all
	@/usr/bin/python3 tests/browser/console_test.py --build $(BUILD) \
	    --screenshot $(BUILD)/console.png
	@/usr/bin/python3 tests/browser/console_runs_test.py --build $(BUILD)

# make screenshot: the same test, and the console's picture in docs/http-api.md refreshed from it.
PUBLIC += screenshot
_screenshot: _all
	@/usr/bin/python3 tests/browser/console_test.py --build $(BUILD) \
	    --screenshot conf/screenshots/console.png

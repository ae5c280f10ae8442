# SPDX-License-Identifier: MIT
# docs.mk - `make docs` and the docs test stage. See docs/tests.md, "The docs stage".
#
# Some sections of docs/*.md are generated from the tables in the code, as
# the manual pages are (tools/make/install.mk): the pipeline file's keys
# from the key table (`reconciler __doc keys --markdown`), the built-in
# plugins' options from their own tables (`__doc plugins DIR --markdown`).
# `make docs` rewrites them between their marker lines; the stage fails
# while the committed text differs, so a key added without `make docs` is
# caught. The stage also checks every link of README.md and docs/*.md.
PUBLIC += docs
TEST_STAGES += docs
.PHONY: _docs _test-docs

# The files that hold generated sections (tools/gen-docs names the markers).
DOCS_GENERATED = docs/configuration.md docs/steps.md

_docs: $(BUILD)/reconciler $(PLUGINS)
	@tools/gen-docs --write $(BUILD)/reconciler $(BUILD)/plugins $(DOCS_GENERATED)

_test-docs: $(BUILD)/reconciler $(PLUGINS)
	@tests/docs/run $(BUILD) $(DOCS_GENERATED)

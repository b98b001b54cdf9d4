# The functions' build for `sam build` (template.yaml: `Metadata: BuildMethod: makefile`,
# CodeUri `.`, built in the source tree: samconfig.toml's build_in_source).
#
# Every function ships the same binary, `agora` (functions/src/main.rs): its `Handler`,
# which Lambda passes as `_HANDLER`, names the function the process runs. So a release
# build is one LTO link of the SDK rather than one per function (the figures are in
# docs/benchmarks/build-and-cold-start.md).
#
# sam build runs `make build-<LogicalId>` once per function, with ARTIFACTS_DIR set.
# Every such target depends on `lambda-binaries`, which builds the template's binaries
# in one `cargo lambda build` (cross-linked with zig for Lambda's glibc) into the shared
# target/. The first function pays for the build; for the others cargo finds everything
# fresh in about a second, and the target only copies the `bootstrap`.
#
# Which binary a function runs comes from template.yaml's
# `Metadata.BuildProperties.Binary` (the key the local stack reads too).
#
# sam tells make nothing of the functions' architecture: AGORA_LAMBDA_ARCH must match the
# template's Architecture parameter. Both default to arm64; infra/release-build --arch
# sets both.
#
#   make lambda-binaries                                     target/lambda/agora/bootstrap
#   AGORA_LAMBDA_ARCH=x86_64 sam build --parameter-overrides Architecture=x86_64

AGORA_LAMBDA_ARCH ?= arm64
# Extra flags for `cargo lambda build`, e.g. CARGO_LAMBDA_FLAGS=--timings.
CARGO_LAMBDA_FLAGS ?=
ifeq ($(AGORA_LAMBDA_ARCH),arm64)
CARGO_LAMBDA_TARGET := --arm64
else ifeq ($(AGORA_LAMBDA_ARCH),x86_64)
CARGO_LAMBDA_TARGET := --x86-64
else
$(error AGORA_LAMBDA_ARCH must be arm64 or x86_64, not $(AGORA_LAMBDA_ARCH))
endif

TEMPLATE := template.yaml
# Every distinct `Binary:` of the template (only functions have one; today all say
# `agora`, the one binary whose `_HANDLER` picks the function).
BINARIES := $(sort $(shell awk '$$1 == "Binary:" { print $$2 }' $(TEMPLATE)))
# The `Binary:` inside resource $(1)'s block (from `  $(1):` to the next resource).
binary_of = $(shell awk -v id='$(1)' '$$0 == "  " id ":" { inside = 1; next } \
	inside && /^  [^ ]/ { exit } inside && $$1 == "Binary:" { print $$2; exit }' $(TEMPLATE))

# Not the build-% targets: make skips pattern rules for .PHONY targets.
.PHONY: lambda-binaries

lambda-binaries:
	@test -n "$(BINARIES)" || { echo "no Binary: in $(TEMPLATE)" >&2; exit 2; }
	cargo lambda build --release $(CARGO_LAMBDA_TARGET) $(CARGO_LAMBDA_FLAGS) $(addprefix --bin ,$(BINARIES))

build-%: lambda-binaries
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set (sam build sets it)" >&2; exit 2; }
	@test -n "$(call binary_of,$*)" || { echo "$(TEMPLATE) has no $* with a BuildProperties.Binary" >&2; exit 2; }
	cp target/lambda/$(call binary_of,$*)/bootstrap "$(ARTIFACTS_DIR)/bootstrap"

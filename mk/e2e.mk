# End-to-end suite of the control plane, and local invocations of the
# functions under the Lambda Runtime Interface Emulator, against moto server.
# Area: plane (mk/e2e.mk). Needs python3 with moto[server] (moto_server);
# builds the emulator once into .cache/tools (go install, pinned version).

E2E_PKGS := ./shared/adapters/awssdk/ ./shared/e2e/...

.PHONY: e2e

e2e: ## End-to-end suite against a moto server it starts (or AWS_ENDPOINT_URL): AWS adapters, handlers, real bootstraps under the Lambda RIE; prints its figures
	@start=$$(date +%s); \
	$(GO) test -tags e2e -count=1 -timeout 30m -v $(E2E_PKGS) | awk '!/^=== (RUN|PAUSE|CONT)/'; \
	echo "e2e: $$(( $$(date +%s) - start )) s"

invoke-%: ## Run one function (invoke-launch, invoke-terminate, invoke-reconciler) under the RIE with its sample event against a moto it starts; prints the answer and logs
	$(GO) run -tags e2e ./shared/e2e/cmd/invoke -fn $*

TEST_PARTS += e2e

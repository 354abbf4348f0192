# The cloud-parity stack: each function as Cloud Run runs it, with the environment Terraform
# deploys (shared/recoengine/environment.yml), on the Firestore emulator and local fakes of
# Vertex AI, the Cloud Run Admin API, Cloud Monitoring and Google sign-in (tools/cloudstack.py).
# Included by the Makefile (-include mk/*.mk).

.PHONY: run-cloud
run-cloud: $(DEV_VENV) ## Start the functions as deployed (Terraform's env, own processes, 2x recommend) on the Firestore emulator and fakes of Google's APIs: make run-cloud [PORT=8080]
	@$(PY) -m tools.cloudstack --port $(PORT)

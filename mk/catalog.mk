# Catalog updates without retraining (recoengine.catalog): publish new, changed and withdrawn
# items beside a served model; running instances apply them within CATALOG_REFRESH_SECONDS.
# Included by the Makefile (-include mk/*.mk).

.PHONY: catalog-update
catalog-update: $(SERVE_VENV) ## Publish an items file beside the served model, no retraining: make catalog-update ITEMS=file [MODEL_URI=var/model|gs://bucket/prefix] (columns item_id,title,features[,available]; available=false withdraws)
	$(if $(ITEMS),,$(error ITEMS is not set: make catalog-update ITEMS=items.csv [MODEL_URI=...]))
	$(PY) -m recoengine.cli catalog-update --items $(ITEMS) $(if $(MODEL_URI),--model-uri $(MODEL_URI))

.PHONY: catalog-freshness
catalog-freshness: $(DEV_VENV) ## Time from make catalog-update to the item served (and a withdrawn one gone) on the local stack, default CATALOG_REFRESH_SECONDS=60: make catalog-freshness [OUT=file.json]
	$(PY) -m tools.catalog_freshness --out $(or $(OUT),var/catalog-freshness.json)

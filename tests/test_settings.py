from pathlib import Path

import pytest

from rag.settings import CPU_DEFAULT_LLM, GPU_DEFAULT_LLM, Settings, all_fields, env_name


def test_reads_typed_values_from_environment():
    s = Settings.from_env(
        {"RAG_TOP_K": "7", "RAG_TEMPERATURE": "0.5", "RAG_COLLECTION": "c1", "RAG_DEVICE": "cpu"}
    )
    assert (s.search.top_k, s.generation.temperature, s.store.collection) == (7, 0.5, "c1")


def test_bad_number_names_the_variable():
    with pytest.raises(ValueError, match="RAG_TOP_K"):
        Settings.from_env({"RAG_TOP_K": "many"})


def test_machine_defaults():
    cpu = Settings.from_env({"RAG_DEVICE": "cpu"})
    gpu = Settings.from_env({"RAG_DEVICE": "gpu"})
    cpu, gpu = cpu.generation, gpu.generation
    assert (cpu.llm_model, cpu.max_model_len, cpu.llm_backend) == (CPU_DEFAULT_LLM, 2048, "vllm")
    assert (gpu.llm_model, gpu.max_model_len) == (GPU_DEFAULT_LLM, 8192)


def test_retrieval_mode_is_checked():
    assert Settings.from_env({}).search.retrieval == "hybrid"
    assert Settings.from_env({"RAG_RETRIEVAL": "dense"}).search.retrieval == "dense"
    with pytest.raises(ValueError, match="RAG_RETRIEVAL"):
        Settings.from_env({"RAG_RETRIEVAL": "semantic"})


def test_url_selects_openai_backend():
    s = Settings.from_env({"RAG_LLM_URL": "http://127.0.0.1:8000/v1"})
    assert s.generation.llm_backend == "openai"


def test_milvus_lite_file_lives_in_data_dir(tmp_path):
    s = Settings.from_env({"RAG_DATA_DIR": str(tmp_path)}).store
    assert s.milvus_target == str(tmp_path / "milvus.db") and s.uses_milvus_lite
    server = Settings.from_env({"RAG_MILVUS_URI": "http://127.0.0.1:19530"}).store
    assert server.milvus_target == "http://127.0.0.1:19530" and not server.uses_milvus_lite


def test_readme_documents_every_setting():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    missing = [env_name(f.name) for _, f in all_fields() if f"`{env_name(f.name)}`" not in readme]
    assert not missing, f"README lacks {missing}"


def test_gradio_server_variables_count_where_ours_are_unset():
    gradio_only = Settings.from_env({"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "8080"}).web
    assert (gradio_only.host, gradio_only.port) == ("0.0.0.0", 8080)
    both = Settings.from_env({"GRADIO_SERVER_PORT": "8080", "RAG_PORT": "9000", "RAG_HOST": "127.0.0.1"}).web
    assert (both.host, both.port) == ("127.0.0.1", 9000)


def test_booleans_are_words_not_truthy_strings():
    assert Settings.from_env({"RAG_REQUIRE_LOGIN": "false"}).web.require_login is False
    assert Settings.from_env({"RAG_REQUIRE_LOGIN": "true"}).web.require_login is True
    with pytest.raises(ValueError, match="RAG_REQUIRE_LOGIN"):
        Settings.from_env({"RAG_REQUIRE_LOGIN": "maybe"})


def test_secrets_stay_out_of_repr():
    s = Settings.from_env(
        {"RAG_AUTH": "ann:pw-secret", "RAG_MILVUS_TOKEN": "tok-secret", "RAG_LLM_API_KEY": "key-x"}
    )
    shown = repr(s)
    assert "pw-secret" not in shown and "tok-secret" not in shown and "key-x" not in shown
    assert s.web.auth == "ann:pw-secret"


def test_settings_come_in_sections_and_change_by_their_variable_names():
    s = Settings.from_env({}, top_k=4, max_upload_mb=9)
    assert (s.search.top_k, s.limits.max_upload_mb) == (4, 9)
    changed = s.replace(collection="other", temperature=0.0)
    assert (changed.store.collection, changed.generation.temperature, changed.search.top_k) == (
        "other",
        0.0,
        4,
    )
    assert s.store.collection == "rag_chunks"  # frozen: replace makes a copy
    names = [f.name for _, f in all_fields()]
    assert len(names) == len(set(names)) > 50  # one name per variable, across the sections
    with pytest.raises(TypeError, match="nonsense"):
        s.replace(nonsense=1)

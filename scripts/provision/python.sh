# The Python package's build and test tools, and the agent frameworks its
# integrations are tested with (python/tests), pinned. Exports WARD_PYTHON_VENV.
ward_venv python-venv \
  "maturin==1.16.0" "pytest==9.2.0" \
  "openai-agents==0.24.0" "langchain==1.5.2" "langchain-core==1.8.3" "mcp==2.3.0"
WARD_PYTHON_VENV="$WARD_TOOLS_DIR/python-venv"
export WARD_PYTHON_VENV

// llmrt's entry point: parse → plan → connect → load → train. Placeholder until the CLI lands.
#include <cstdio>
int main() { std::puts("llmrt " LLMRT_VERSION); return 0; }

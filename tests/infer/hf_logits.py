# Logits of a Hugging Face GPT-2 folder on a token list, from transformers' own GPT2LMHeadModel:
#   hf_logits.py HF_DIR TOKENS_JSON OUT_JSON   (OUT: [T][V] floats)
import json
import sys

import torch
from transformers import GPT2LMHeadModel

model = GPT2LMHeadModel.from_pretrained(sys.argv[1])
model.eval()
with open(sys.argv[2]) as f:
    tokens = json.load(f)
with torch.no_grad():
    logits = model(torch.tensor([tokens], dtype=torch.long)).logits[0]
with open(sys.argv[3], "w") as f:
    json.dump(logits.tolist(), f)

"""SFT Lab: see what a supervised fine-tune of a causal LM learns from chat data. No Streamlit in here.

One package per step of the data's path, imports flowing one way (common, errors <- data <- models <- labels
<- train, look <- ship, views <- cli):
  data    examples, the files they come from, the edited set        labels  rendering, tokens, strategies, checks
  models  references, shipped models, devices                       train   RunConfig, loss, engines, run store
  look    teacher forcing, decoding, answers                        views   chips (HTML) and plotly figures
  ship    export, the TRL CLI hand-off                              cli     `python -m lab ...`
"""

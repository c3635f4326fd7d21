"""SFT Lab: see what a supervised fine-tune of a causal LM learns from chat data. No Streamlit in here."""

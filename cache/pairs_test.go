package cache

// Prompt pairs for tuning and checking the similarity thresholds. Paraphrases
// should hit; different questions must miss, the hard ones being the same
// template with one word changed.
var paraphrasePairs = [][2]string{
	{"What is the capital of France?", "what is the capital of france"},
	{"What is the capital of France?", "What is the capital of France ?"},
	{"How do I reverse a linked list in Go?", "how do I reverse a linked list in Go"},
	{"Explain the difference between TCP and UDP.", "Explain the difference between TCP and UDP!"},
	{"Write a haiku about autumn leaves", "Write a haiku about autumn leaves please"},
	{"What are the main causes of inflation in an economy?", "What are the main causes of inflation in the economy?"},
	{"How does garbage collection work in Java?", "How does garbage collection work in Java?  "},
	{"Translate 'good morning' into Spanish", "translate \"good morning\" into spanish"},
	{"List five tips for improving sleep quality", "List 5 tips for improving sleep quality"},
	{"Can you explain how public key cryptography works in simple terms?", "Can you explain how public-key cryptography works in simple terms?"},
	{"What is the time complexity of quicksort in the average case and in the worst case?", "What's the time complexity of quicksort in the average case and in the worst case?"},
}

// lexicalMisses are paraphrases the lexical embedder cannot see (spelling
// variants change every trigram of the word): they miss, which is safe.
var lexicalMisses = [][2]string{
	{"Summarize the plot of Hamlet in three sentences.", "Summarise the plot of Hamlet in three sentences."},
}

var differentPairs = [][2]string{
	{"What is the capital of France?", "What is the capital of Germany?"},
	{"What is the capital of France?", "What is the population of France?"},
	{"How do I reverse a linked list in Go?", "How do I reverse a linked list in Python?"},
	{"How do I reverse a linked list in Go?", "How do I sort a linked list in Go?"},
	{"Explain the difference between TCP and UDP.", "Explain the difference between HTTP and HTTPS."},
	{"Write a haiku about autumn leaves", "Write a haiku about spring flowers"},
	{"Summarize the plot of Hamlet in three sentences.", "Summarize the plot of Macbeth in three sentences."},
	{"What are the main causes of inflation in an economy?", "What are the main effects of inflation in an economy?"},
	{"How does garbage collection work in Java?", "How does garbage collection work in Go?"},
	{"Translate 'good morning' into Spanish", "Translate 'good morning' into French"},
	{"List five tips for improving sleep quality", "List five tips for improving focus at work"},
	{"Can you explain how public key cryptography works in simple terms?", "Can you explain how quantum computing works in simple terms?"},
	{"What is the time complexity of quicksort in the average case and in the worst case?", "What is the time complexity of mergesort in the average case and in the worst case?"},
	{"Is 17 a prime number?", "Is 21 a prime number?"},
	{"Convert 100 degrees Fahrenheit to Celsius", "Convert 100 degrees Celsius to Fahrenheit"},
	{"Who wrote Pride and Prejudice?", "Who wrote War and Peace?"},
	{"Summarize the plot of Hamlet in three sentences.", "Summarize the plot of Hamlet in five sentences."},
	{"Write a detailed step by step guide for setting up PostgreSQL streaming replication on Ubuntu servers",
		"Write a detailed step by step guide for setting up PostgreSQL streaming replication on Debian servers"},
	{"Given the following requirements for a customer onboarding workflow with email verification, document upload, manual review, approval notifications and audit logging, design a REST API",
		"Given the following requirements for a customer onboarding workflow with email verification, document upload, manual review, approval notifications and audit logging, design a GraphQL API"},
}
